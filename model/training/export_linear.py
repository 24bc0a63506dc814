"""Train the models Blindfold imports through ONNX behind a scaler: the linear models, and a tree
ensemble whose scaler is folded into its splits.

Run once by the model owner, like `export_formats.py` (needs `pip install scikit-learn skl2onnx
onnx onnxruntime xgboost lightgbm`); the outputs are committed so that neither the tests nor the
app need Python.

    python3 model/training/export_linear.py model/fixtures

Each fixture is a scikit-learn pipeline, a scaler in front of a linear model, written like the
other ONNX fixtures (model.onnx, train.csv, test.csv, expected.csv: the pipeline's own
predict_proba or predict on the test rows), and checked against onnxruntime to 1e-5. A linear
SVM has no probabilities: its expected.csv holds the decision scores per class (a binary
model's `decision_function` s as `-s, s`).
"""

import os
import sys

import numpy as np
import onnxruntime
from skl2onnx import to_onnx

from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.svm import LinearSVC, LinearSVR

from export_formats import export_onnx, split, write_data
from train import feature_names


def export_decision_scores(out_dir, fixture_id, data, model):
    """A classifier without probabilities, such as LinearSVC: expected.csv holds its scores."""
    x_train, x_test, y_train, y_test = split(data, True)
    model.fit(x_train, y_train)
    d = os.path.join(out_dir, fixture_id)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    # skl2onnx 1.20 asks a pipeline's last classifier for a ZipMap option, which LinearSVC does
    # not have: naming its options (none but the defaults) skips that question.
    head = model.steps[-1][1]
    options = {id(head): {"nocl": False}} if isinstance(head, LinearSVC) else None
    onx = to_onnx(model, x_train[:1].astype(np.float32), options=options)
    with open(path, "wb") as f:
        f.write(onx.SerializeToString())
    scores = model.decision_function(x_test)
    expected = np.column_stack([-scores, scores]) if scores.ndim == 1 else scores
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x_test.astype(np.float32)})
    runtime = outputs[1]
    if isinstance(runtime, list):  # ZipMap's dictionaries, by class id
        runtime = np.array([[p[k] for k in sorted(p)] for p in runtime])
    runtime = runtime.reshape(len(x_test), -1)
    # A binary LinearSVC's graph keeps class 1's score only; SGDClassifier's writes `-s, s`.
    reference = expected if runtime.shape[1] == expected.shape[1] else scores.reshape(-1, 1)
    gap = np.max(np.abs(runtime - reference) / np.maximum(np.abs(reference), 1))
    print(fixture_id, "onnxruntime vs scikit-learn: max relative gap", gap)
    assert gap < 1e-5, fixture_id
    header = [str(c) for c in data.target_names]
    write_data(d, feature_names(data.feature_names), x_train, y_train, x_test, y_test, expected, header)
    print(fixture_id, "ops", sorted({n.op_type for n in onx.graph.node}))


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
    export_decision_scores(
        out_dir,
        "sklearn-linear-svc",
        load_breast_cancer(),
        make_pipeline(StandardScaler(), LinearSVC(max_iter=100000, random_state=0)),
    )
    export_decision_scores(
        out_dir,
        "sklearn-linear-svc-wine",
        load_wine(),
        make_pipeline(StandardScaler(), LinearSVC(max_iter=100000, random_state=0)),
    )
    # A hinge-loss SGDClassifier: skl2onnx writes its score as MatMul and Add (and `-s, s` for
    # two classes), with no linear operator of ai.onnx.ml.
    export_decision_scores(
        out_dir,
        "sklearn-sgd-classifier",
        load_breast_cancer(),
        make_pipeline(StandardScaler(), SGDClassifier(random_state=0)),
    )
    export_decision_scores(
        out_dir,
        "sklearn-sgd-classifier-wine",
        load_wine(),
        make_pipeline(MinMaxScaler(), SGDClassifier(random_state=0)),
    )


if __name__ == "__main__":
    main()
