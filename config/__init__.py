"""Service configuration: one typed, validated settings object."""

from config.settings import SETTINGS, Settings, SettingsError, cache_dir, markdown_table

__all__ = ["SETTINGS", "Settings", "SettingsError", "cache_dir", "markdown_table"]
