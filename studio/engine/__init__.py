"""Heavy work: images, face engines, rendering, training. No Qt and no project file here."""
