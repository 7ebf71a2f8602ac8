//! [`CsvLogger`].

use std::path::PathBuf;

use super::{Callback, Control};
use crate::error::{write_atomic, Error, Result};
use crate::train::fit::EpochLog;
use crate::train::Model;

/// Writes one CSV row per epoch (Keras's `CSVLogger`): `epoch`, then every logged value
/// ([`EpochLog::logs`]) in sorted order, `NA` where an epoch lacks one. The file is rewritten
/// through a temporary after every epoch, so it is never half-written.
#[derive(Clone, Debug)]
pub struct CsvLogger {
    path: PathBuf,
    separator: char,
    append: bool,
    columns: Vec<String>,
    text: String,
}

impl CsvLogger {
    /// Writes to `path`, comma-separated, replacing an existing file.
    pub fn new(path: impl Into<PathBuf>) -> CsvLogger {
        CsvLogger {
            path: path.into(),
            separator: ',',
            append: false,
            columns: Vec::new(),
            text: String::new(),
        }
    }
    /// The field separator.
    pub fn separator(mut self, c: char) -> Self {
        self.separator = c;
        self
    }
    /// Keeps an existing file's rows and columns and adds to them (resuming a run).
    pub fn append(mut self, on: bool) -> Self {
        self.append = on;
        self
    }
}

impl Callback for CsvLogger {
    fn on_train_begin(&mut self, _model: &mut Model) -> Result<()> {
        self.columns.clear();
        self.text.clear();
        if !self.append {
            return Ok(());
        }
        match std::fs::read_to_string(&self.path) {
            Ok(old) => {
                if let Some(header) = old.lines().next() {
                    self.columns = header
                        .split(self.separator)
                        .skip(1)
                        .map(str::to_string)
                        .collect();
                }
                self.text = old;
                if !self.text.is_empty() && !self.text.ends_with('\n') {
                    self.text.push('\n');
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn on_epoch_end(&mut self, model: &mut Model, log: &EpochLog) -> Result<Control> {
        // Data-parallel: one file, from rank 0 (every rank has the same logs).
        if !model.is_root() {
            return Ok(Control::Continue);
        }
        let logs = log.logs();
        let sep = self.separator.to_string();
        if self.columns.is_empty() {
            self.columns = logs.iter().map(|(n, _)| n.clone()).collect();
            self.columns.sort();
            let header: Vec<&str> = std::iter::once("epoch")
                .chain(self.columns.iter().map(String::as_str))
                .collect();
            self.text = header.join(&sep) + "\n";
        }
        let row: Vec<String> = std::iter::once(log.epoch.to_string())
            .chain(self.columns.iter().map(|c| {
                let v = logs.iter().find(|(n, _)| n == c);
                v.map_or_else(|| "NA".to_string(), |(_, v)| v.to_string())
            }))
            .collect();
        self.text += &(row.join(&sep) + "\n");
        write_atomic(&self.path, self.text.as_bytes())?;
        Ok(Control::Continue)
    }
}
