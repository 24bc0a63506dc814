//! Feature rows read from CSV with a header: calibration rows for the compiler, test rows and
//! rows a client wants predictions for.

use crate::error::{ModelError, Result};

/// A table of finite numbers with named columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Dataset {
    /// Parses CSV text whose first line names the columns. Every cell must be a finite number.
    pub fn from_csv(text: &str) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| bad(format!("cannot read the header: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect();
        if columns.is_empty() || columns.iter().any(String::is_empty) {
            return Err(bad("the header has an empty column name".into()));
        }
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
            let row = record
                .iter()
                .zip(&columns)
                .map(|(cell, column)| {
                    cell.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| {
                        bad(format!(
                            "line {line}, column `{column}`: `{cell}` is not a finite number"
                        ))
                    })
                })
                .collect::<Result<Vec<f64>>>()?;
            rows.push(row);
        }
        Ok(Self { columns, rows })
    }

    /// The rows restricted to `names`, in that order.
    pub fn select(&self, names: &[String]) -> Result<Vec<Vec<f64>>> {
        let indices = names
            .iter()
            .map(|name| {
                self.columns
                    .iter()
                    .position(|c| c == name)
                    .ok_or_else(|| bad(format!("missing column `{name}`")))
            })
            .collect::<Result<Vec<usize>>>()?;
        Ok(self
            .rows
            .iter()
            .map(|row| indices.iter().map(|&i| row[i]).collect())
            .collect())
    }

    /// One column by name.
    pub fn column(&self, name: &str) -> Result<Vec<f64>> {
        let index = self
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| bad(format!("missing column `{name}`")))?;
        Ok(self.rows.iter().map(|row| row[index]).collect())
    }
}

fn bad(message: String) -> ModelError {
    ModelError::InvalidData(message)
}
