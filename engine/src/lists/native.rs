//! (Being written.)
use super::{ListError, LoadReport};
use std::path::Path;
pub fn load_file(_path: &Path, _list_name: Option<&str>) -> Result<LoadReport, ListError> { Ok(LoadReport::default()) }
