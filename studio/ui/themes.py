"""Light and dark themes: Fusion style, a palette each, and one shared style sheet."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from studio.core.resources import resource_path

THEMES = ("light", "dark")

_DARK = {
    QPalette.ColorRole.Window: "#26272b",
    QPalette.ColorRole.WindowText: "#e6e6e9",
    QPalette.ColorRole.Base: "#1d1e21",
    QPalette.ColorRole.AlternateBase: "#2b2c31",
    QPalette.ColorRole.ToolTipBase: "#313238",
    QPalette.ColorRole.ToolTipText: "#e6e6e9",
    QPalette.ColorRole.PlaceholderText: "#8b8c93",
    QPalette.ColorRole.Text: "#e6e6e9",
    QPalette.ColorRole.Button: "#303136",
    QPalette.ColorRole.ButtonText: "#e6e6e9",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#e8632b",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#f0915f",
    QPalette.ColorRole.Mid: "#3a3b41",
    QPalette.ColorRole.Dark: "#18191b",
}

_LIGHT = {
    QPalette.ColorRole.Window: "#f3f2ef",
    QPalette.ColorRole.WindowText: "#1f2023",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f7f6f3",
    QPalette.ColorRole.PlaceholderText: "#8a8b90",
    QPalette.ColorRole.Text: "#1f2023",
    QPalette.ColorRole.Button: "#ebe9e4",
    QPalette.ColorRole.ButtonText: "#1f2023",
    QPalette.ColorRole.Highlight: "#d9561f",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#b4461a",
}


# Colours of disabled widgets. `QPalette.setColor(role, colour)` sets every colour group, the
# disabled one included, so each theme must say how its disabled text and buttons look or a
# disabled button looks exactly like an enabled one.
_DISABLED = {
    "light": {
        QPalette.ColorRole.WindowText: "#a3a3a8",
        QPalette.ColorRole.Text: "#a3a3a8",
        QPalette.ColorRole.ButtonText: "#a3a3a8",
        QPalette.ColorRole.Button: "#f0efeb",
        QPalette.ColorRole.Base: "#f5f4f1",
        QPalette.ColorRole.Highlight: "#c9c7c2",
        QPalette.ColorRole.HighlightedText: "#f3f2ef",
    },
    "dark": {
        QPalette.ColorRole.WindowText: "#6c6d73",
        QPalette.ColorRole.Text: "#6c6d73",
        QPalette.ColorRole.ButtonText: "#6c6d73",
        QPalette.ColorRole.Button: "#2a2b2f",
        QPalette.ColorRole.Base: "#222326",
        QPalette.ColorRole.Highlight: "#45464c",
        QPalette.ColorRole.HighlightedText: "#8b8c93",
    },
}


def theme_palette(app: QApplication, name: str) -> QPalette:
    """The named theme's palette on top of the style's standard one (name must be a theme)."""
    palette = app.style().standardPalette()
    for role, colour in (_DARK if name == "dark" else _LIGHT).items():
        palette.setColor(role, QColor(colour))
    for role, colour in _DISABLED[name].items():
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    return palette


def apply_theme(app: QApplication, name: str) -> str:
    """Apply the named theme (light or dark) to the whole application; returns the name used."""
    name = name if name in THEMES else "light"
    app.setStyle("Fusion")
    app.setPalette(theme_palette(app, name))
    app.setStyleSheet(resource_path("styles/studio.qss").read_text(encoding="utf-8"))
    app.setProperty("studioTheme", name)
    return name
