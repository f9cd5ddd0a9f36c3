"""Package data: JSON Schema, styles, icons, demo images."""
