"""DMS Kinesis records become typed change events here, and only here."""
