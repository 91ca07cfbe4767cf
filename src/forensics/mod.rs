//! (feature `batch`) Forensics with polars, the only place polars appears.
//! For now: export of enriched, normalized events to Parquet
//! (`tokenhound export --parquet`), for later runs and other tools.

mod export;

pub use export::{ParquetExport, EXPORT_COLUMNS};
