//! The models shipped with Blindfold, embedded so that tests, benchmarks and the server need
//! no files at run time. Trained by `model/training/train.py` (see its header).

/// One shipped model with its calibration and test rows.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    pub id: &'static str,
    pub name: &'static str,
    pub labels: &'static [&'static str],
    pub model_json: &'static str,
    /// Training rows: the calibration set.
    pub train_csv: &'static str,
    /// Held-out rows with a `target` column.
    pub test_csv: &'static str,
    /// XGBoost's own `predict_proba` (or `predict`) on the test rows.
    pub expected_csv: &'static str,
}

macro_rules! fixture {
    ($dir:literal) => {
        (
            include_str!(concat!("../fixtures/", $dir, "/model.json")),
            include_str!(concat!("../fixtures/", $dir, "/train.csv")),
            include_str!(concat!("../fixtures/", $dir, "/test.csv")),
            include_str!(concat!("../fixtures/", $dir, "/expected.csv")),
        )
    };
}

const fn make(
    id: &'static str,
    name: &'static str,
    labels: &'static [&'static str],
    files: (&'static str, &'static str, &'static str, &'static str),
) -> Fixture {
    Fixture {
        id,
        name,
        labels,
        model_json: files.0,
        train_csv: files.1,
        test_csv: files.2,
        expected_csv: files.3,
    }
}

/// The default model: breast cancer (scikit-learn), `XGBClassifier(n_estimators=20, max_depth=3)`.
/// Class 0 is malignant, class 1 benign.
pub const BREAST_CANCER: Fixture = make(
    "breast-cancer",
    "Breast cancer (XGBoost, 20 trees)",
    &["Malignant", "Benign"],
    fixture!("breast-cancer"),
);

/// Three-class wine model, `multi:softprob`.
pub const WINE: Fixture = make(
    "wine",
    "Wine (XGBoost, 3 classes)",
    &["class_0", "class_1", "class_2"],
    fixture!("wine"),
);

/// Diabetes progression regressor, `reg:squarederror`.
pub const DIABETES: Fixture = make(
    "diabetes",
    "Diabetes progression (XGBoost regressor)",
    &[],
    fixture!("diabetes"),
);

impl Fixture {
    /// Imports and compiles this model with its training rows as calibration set.
    pub fn compile(&self) -> crate::Result<crate::CompiledModel> {
        let ensemble = crate::import_xgboost_json(self.model_json)?;
        let calibration = crate::Dataset::from_csv(self.train_csv)?;
        let labels = (!self.labels.is_empty()).then(|| self.labels.iter().map(|l| l.to_string()).collect());
        crate::compile(
            &ensemble,
            &calibration,
            &crate::CompileOptions {
                labels,
                ..Default::default()
            },
        )
    }

    /// Test rows (features only, in the calibration header's order) and their targets.
    pub fn test_rows(&self) -> crate::Result<(Vec<Vec<f64>>, Vec<f64>)> {
        let data = crate::Dataset::from_csv(self.test_csv)?;
        let names: Vec<String> = data.columns.iter().filter(|c| *c != "target").cloned().collect();
        Ok((data.select(&names)?, data.column("target")?))
    }

    /// XGBoost's predictions on the test rows.
    pub fn expected(&self) -> crate::Result<Vec<Vec<f64>>> {
        Ok(crate::Dataset::from_csv(self.expected_csv)?.rows)
    }
}
