"""totes-cdc: PostgreSQL → DMS → Kinesis → KCL consumers → S3 → Redshift, locally and on AWS."""

__version__ = "0.1.0"
