"""motip-tui: the keyboard control center for MOTIP training (never imports torch; talks to the core by CLI/files)."""
