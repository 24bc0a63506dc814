//! The models shipped with Blindfold, embedded so that tests, benchmarks and the server need
//! no files at run time. The XGBoost JSON models are trained by `model/training/train.py`, one
//! model per import format by `model/training/export_formats.py` (see their headers).

/// One shipped model with its calibration and test rows.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    pub id: &'static str,
    pub name: &'static str,
    pub labels: &'static [&'static str],
    /// The model file as its library saved it (any format [`crate::import_model`] reads).
    pub model: &'static [u8],
    /// Training rows: the calibration set.
    pub train_csv: &'static str,
    /// Held-out rows with a `target` column.
    pub test_csv: &'static str,
    /// The library's own `predict_proba` (or `predict`) on the test rows.
    pub expected_csv: &'static str,
}

macro_rules! fixture {
    ($dir:literal) => {
        fixture!($dir, "model.json")
    };
    ($dir:literal, $model:literal) => {
        (
            include_bytes!(concat!("../../fixtures/", $dir, "/", $model)),
            include_str!(concat!("../../fixtures/", $dir, "/train.csv")),
            include_str!(concat!("../../fixtures/", $dir, "/test.csv")),
            include_str!(concat!("../../fixtures/", $dir, "/expected.csv")),
        )
    };
}

const fn make(
    id: &'static str,
    name: &'static str,
    labels: &'static [&'static str],
    files: (&'static [u8], &'static str, &'static str, &'static str),
) -> Fixture {
    Fixture {
        id,
        name,
        labels,
        model: files.0,
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

/// LightGBM binary classifier (breast cancer, 20 trees of 8 leaves), `model.txt`.
pub const LIGHTGBM_BREAST_CANCER: Fixture = make(
    "lightgbm-breast-cancer",
    "Breast cancer (LightGBM, 20 trees)",
    &["Malignant", "Benign"],
    fixture!("lightgbm-breast-cancer", "model.txt"),
);

/// LightGBM multiclass (wine, 3 classes × 10 trees of 6 leaves), `model.txt`.
pub const LIGHTGBM_WINE: Fixture = make(
    "lightgbm-wine",
    "Wine (LightGBM, 3 classes)",
    &["class_0", "class_1", "class_2"],
    fixture!("lightgbm-wine", "model.txt"),
);

/// scikit-learn `RandomForestClassifier(n_estimators=10, max_depth=4)` through ONNX.
pub const SKLEARN_RANDOM_FOREST: Fixture = make(
    "sklearn-random-forest",
    "Breast cancer (scikit-learn random forest, 10 trees)",
    &["Malignant", "Benign"],
    fixture!("sklearn-random-forest", "model.onnx"),
);

/// scikit-learn `GradientBoostingRegressor(n_estimators=20, max_depth=3)` through ONNX.
pub const SKLEARN_GRADIENT_BOOSTING_REGRESSOR: Fixture = make(
    "sklearn-gradient-boosting-regressor",
    "Diabetes progression (scikit-learn gradient boosting)",
    &[],
    fixture!("sklearn-gradient-boosting-regressor", "model.onnx"),
);

/// scikit-learn `DecisionTreeClassifier(max_depth=4)` on wine (3 classes) through ONNX.
pub const SKLEARN_DECISION_TREE: Fixture = make(
    "sklearn-decision-tree",
    "Wine (scikit-learn decision tree)",
    &["class_0", "class_1", "class_2"],
    fixture!("sklearn-decision-tree", "model.onnx"),
);

/// scikit-learn `HistGradientBoostingClassifier(max_iter=20, max_depth=3)` through ONNX.
pub const SKLEARN_HIST_GRADIENT_BOOSTING: Fixture = make(
    "sklearn-hist-gradient-boosting",
    "Breast cancer (scikit-learn histogram gradient boosting)",
    &["Malignant", "Benign"],
    fixture!("sklearn-hist-gradient-boosting", "model.onnx"),
);

/// `make_pipeline(RobustScaler(), GradientBoostingClassifier(n_estimators=20, max_depth=3))` on
/// breast cancer through ONNX: the scaler is folded into the splits.
pub const SKLEARN_SCALED_GRADIENT_BOOSTING: Fixture = make(
    "sklearn-scaled-gradient-boosting",
    "Breast cancer (scikit-learn gradient boosting behind a scaler)",
    &["Malignant", "Benign"],
    fixture!("sklearn-scaled-gradient-boosting", "model.onnx"),
);

/// XGBoost `XGBClassifier(n_estimators=10, max_depth=4)` saved as UBJSON (XGBoost 2.1+'s
/// default format).
pub const XGBOOST_UBJSON: Fixture = make(
    "xgboost-breast-cancer-ubjson",
    "Breast cancer (XGBoost UBJSON, 10 trees)",
    &["Malignant", "Benign"],
    fixture!("xgboost-breast-cancer-ubjson", "model.ubj"),
);

/// `make_pipeline(StandardScaler(), LogisticRegression())` on breast cancer, through ONNX.
pub const SKLEARN_LOGISTIC_REGRESSION: Fixture = make(
    "sklearn-logistic-regression",
    "Breast cancer (scikit-learn logistic regression)",
    &["Malignant", "Benign"],
    fixture!("sklearn-logistic-regression", "model.onnx"),
);

/// `make_pipeline(MaxAbsScaler(), LogisticRegression())` on wine (3 classes, softmax), through
/// ONNX.
pub const SKLEARN_LOGISTIC_REGRESSION_WINE: Fixture = make(
    "sklearn-logistic-regression-wine",
    "Wine (scikit-learn logistic regression)",
    &["class_0", "class_1", "class_2"],
    fixture!("sklearn-logistic-regression-wine", "model.onnx"),
);

/// `make_pipeline(MinMaxScaler(), Ridge(alpha=0.1))` on diabetes, through ONNX (the scaler
/// exported as `Mul` and `Add`).
pub const SKLEARN_RIDGE: Fixture = make(
    "sklearn-ridge",
    "Diabetes progression (scikit-learn ridge regression)",
    &[],
    fixture!("sklearn-ridge", "model.onnx"),
);

/// `make_pipeline(RobustScaler(), LinearSVR(C=10))` on diabetes, through ONNX.
pub const SKLEARN_LINEAR_SVR: Fixture = make(
    "sklearn-linear-svr",
    "Diabetes progression (scikit-learn linear SVR)",
    &[],
    fixture!("sklearn-linear-svr", "model.onnx"),
);

/// `make_pipeline(StandardScaler(), LinearSVC())` on breast cancer, through ONNX: a
/// classifier without probabilities (one decision score).
pub const SKLEARN_LINEAR_SVC: Fixture = make(
    "sklearn-linear-svc",
    "Breast cancer (scikit-learn linear SVM)",
    &["Malignant", "Benign"],
    fixture!("sklearn-linear-svc", "model.onnx"),
);

/// `make_pipeline(StandardScaler(), LinearSVC())` on wine: a score per class, through
/// ONNX.
pub const SKLEARN_LINEAR_SVC_WINE: Fixture = make(
    "sklearn-linear-svc-wine",
    "Wine (scikit-learn linear SVM)",
    &["class_0", "class_1", "class_2"],
    fixture!("sklearn-linear-svc-wine", "model.onnx"),
);

/// `make_pipeline(StandardScaler(), SGDClassifier())` (hinge loss) on breast cancer, through
/// ONNX: skl2onnx writes it as `MatMul` and `Add` with `-s, s` scores, read as a linear model.
/// Not in [`LINEAR`]: its float model reproduces scikit-learn, but its quantized model misses
/// the accuracy target (95.6% on the test rows against 97.4%; the compiler's report says so):
/// the hinge loss leaves weights two orders of magnitude apart, more than the linear message
/// space resolves.
pub const SKLEARN_SGD_CLASSIFIER: Fixture = make(
    "sklearn-sgd-classifier",
    "Breast cancer (scikit-learn SGD classifier)",
    &["Malignant", "Benign"],
    fixture!("sklearn-sgd-classifier", "model.onnx"),
);

/// `make_pipeline(MinMaxScaler(), SGDClassifier())` (hinge loss) on wine: a score per class,
/// `MatMul`, `Add` and `ArgMax`, through ONNX.
pub const SKLEARN_SGD_CLASSIFIER_WINE: Fixture = make(
    "sklearn-sgd-classifier-wine",
    "Wine (scikit-learn SGD classifier)",
    &["class_0", "class_1", "class_2"],
    fixture!("sklearn-sgd-classifier-wine", "model.onnx"),
);

/// The models Blindfold serves out of the box.
pub const SHIPPED: [Fixture; 3] = [BREAST_CANCER, WINE, DIABETES];

/// One model per import format and library: the import tests' fixtures.
pub const FORMATS: [Fixture; 8] = [
    LIGHTGBM_BREAST_CANCER,
    LIGHTGBM_WINE,
    SKLEARN_RANDOM_FOREST,
    SKLEARN_GRADIENT_BOOSTING_REGRESSOR,
    SKLEARN_DECISION_TREE,
    SKLEARN_HIST_GRADIENT_BOOSTING,
    SKLEARN_SCALED_GRADIENT_BOOSTING,
    XGBOOST_UBJSON,
];

/// `make_pipeline(StandardScaler(), MLPClassifier((30,)))` on breast cancer, through ONNX.
pub const SKLEARN_MLP_CLASSIFIER: Fixture = make(
    "sklearn-mlp-classifier",
    "Breast cancer (scikit-learn MLP, 30 hidden)",
    &["Malignant", "Benign"],
    fixture!("sklearn-mlp-classifier", "model.onnx"),
);

/// `make_pipeline(StandardScaler(), MLPRegressor((16,)))` on diabetes, through ONNX.
pub const SKLEARN_MLP_REGRESSOR: Fixture = make(
    "sklearn-mlp-regressor",
    "Diabetes progression (scikit-learn MLP, 16 hidden)",
    &[],
    fixture!("sklearn-mlp-regressor", "model.onnx"),
);

/// A PyTorch 30 → 16 → 8 → 2 ReLU network on breast cancer, `torch.onnx.export`ed (`Gemm`
/// layers, logits out).
pub const TORCH_MLP: Fixture = make(
    "torch-mlp",
    "Breast cancer (PyTorch network, two hidden layers)",
    &["Malignant", "Benign"],
    fixture!("torch-mlp", "model.onnx"),
);

/// Neural networks, trained by `model/training/export_networks.py`.
pub const NETWORKS: [Fixture; 3] = [SKLEARN_MLP_CLASSIFIER, SKLEARN_MLP_REGRESSOR, TORCH_MLP];

/// Linear models behind a scaler, trained by `model/training/export_linear.py`.
pub const LINEAR: [Fixture; 7] = [
    SKLEARN_LOGISTIC_REGRESSION,
    SKLEARN_LOGISTIC_REGRESSION_WINE,
    SKLEARN_RIDGE,
    SKLEARN_LINEAR_SVR,
    SKLEARN_LINEAR_SVC,
    SKLEARN_LINEAR_SVC_WINE,
    SKLEARN_SGD_CLASSIFIER_WINE,
];

impl Fixture {
    /// The model file as text, for the text formats (XGBoost JSON, LightGBM).
    pub fn model_text(&self) -> &'static str {
        std::str::from_utf8(self.model).expect("a text model fixture is UTF-8")
    }

    /// Imports this model's file, whatever its format, as a tree ensemble.
    pub fn import(&self) -> crate::Result<crate::TreeEnsemble> {
        Ok(crate::import_model(self.model)?.1)
    }

    /// Imports this model's file, whatever its format and family.
    pub fn import_any(&self) -> crate::Result<crate::compiler::import::ImportedModel> {
        Ok(crate::compiler::import::import_any(self.model)?.1)
    }

    /// Imports and compiles this model with its training rows as calibration set.
    pub fn compile(&self) -> crate::Result<crate::CompiledModel> {
        let ensemble = self.import()?;
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

    /// Imports and compiles this model, whatever its family, with its training rows as
    /// calibration set.
    pub fn compile_any(&self) -> crate::Result<crate::compiler::family::Compiled> {
        let model = self.import_any()?;
        let calibration = crate::Dataset::from_csv(self.train_csv)?;
        let labels = (!self.labels.is_empty()).then(|| self.labels.iter().map(|l| l.to_string()).collect());
        let options = crate::CompileOptions {
            labels,
            ..Default::default()
        };
        crate::compiler::family::compile_model(&model, &calibration, &options, &mut |_| {
            std::ops::ControlFlow::Continue(())
        })
    }

    /// Test rows (features only, in the calibration header's order) and their targets.
    pub fn test_rows(&self) -> crate::Result<(Vec<Vec<f64>>, Vec<f64>)> {
        let data = crate::Dataset::from_csv(self.test_csv)?;
        let names: Vec<String> = data.columns.iter().filter(|c| *c != "target").cloned().collect();
        Ok((data.select(&names)?, data.column("target")?))
    }

    /// The library's own predictions on the test rows.
    pub fn expected(&self) -> crate::Result<Vec<Vec<f64>>> {
        Ok(crate::Dataset::from_csv(self.expected_csv)?.rows)
    }
}
