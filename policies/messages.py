"""Marking texts for translation (界面文字): the web workspace shows them in Chinese from its
message catalog; the code keeps them in English."""


def N_(message: str) -> str:
    """Marks a text for the catalog where it is not translated at once."""
    return message
