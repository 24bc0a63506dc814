"""Train the models Blindfold imports through ONNX behind a scaler: the linear models, and a tree
ensemble whose scaler is folded into its splits.

Run once by the model owner, like `export_formats.py` (needs `pip install scikit-learn skl2onnx
onnx onnxruntime xgboost lightgbm`); the outputs are committed so that neither the tests nor the
app need Python.

    python3 model/training/export_linear.py model/fixtures

Each fixture is a scikit-learn pipeline, a scaler in front of a linear model, written like the
other ONNX fixtures (model.onnx, train.csv, test.csv, expected.csv: the pipeline's own
predict_proba or predict on the test rows), and checked against onnxruntime to 1e-5.
"""

import sys

from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import LinearSVR

from export_formats import export_onnx


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    export_onnx(
        out_dir,
        "sklearn-logistic-regression",
        load_breast_cancer(),
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        True,
    )
    export_onnx(
        out_dir,
        "sklearn-logistic-regression-wine",
        load_wine(),
        make_pipeline(MaxAbsScaler(), LogisticRegression(max_iter=1000)),
        True,
    )
    export_onnx(
        out_dir,
        "sklearn-ridge",
        load_diabetes(),
        make_pipeline(MinMaxScaler(), Ridge(alpha=0.1)),
        False,
    )
    export_onnx(
        out_dir,
        "sklearn-scaled-gradient-boosting",
        load_breast_cancer(),
        make_pipeline(RobustScaler(), GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)),
        True,
    )
    export_onnx(
        out_dir,
        "sklearn-linear-svr",
        load_diabetes(),
        make_pipeline(RobustScaler(), LinearSVR(C=10.0, max_iter=100000, random_state=0)),
        False,
    )


if __name__ == "__main__":
    main()
