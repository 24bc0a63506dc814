"""Train one model per supported import format: the fixtures of `blindfold-server import-model`.

Run once by the model owner (needs `pip install scikit-learn xgboost lightgbm skl2onnx onnx
onnxruntime`); the outputs are committed so that neither the tests nor the app need Python.

    python3 model/training/export_formats.py model/fixtures

For each fixture it writes, under the output folder:
  <id>/model.<txt|onnx|ubj>  the library's own export, with the command the README documents
  <id>/train.csv             calibration rows (the training split), header = feature names + "target"
  <id>/test.csv              held-out rows, header = feature names + "target"
  <id>/expected.csv          the library's own predict_proba (classifiers) or predict on the test rows

Every export is checked here against the library (onnxruntime for ONNX files, the reloaded
booster for LightGBM and XGBoost) so that a fixture never disagrees with its own library.
"""

import os
import sys

import lightgbm
import numpy as np
import onnx.helper
import onnxruntime
import xgboost
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from train import SEED, feature_names, write_rows

# skl2onnx 1.20 passes HistGradientBoosting's `nodes_missing_value_tracks_true` as booleans,
# which protobuf 5+ refuses in an int list: hand them over as 0/1.
_make_attribute = onnx.helper.make_attribute


def _make_attribute_with_int_bools(key, value, *args, **kwargs):
    if isinstance(value, (list, tuple, np.ndarray)) and any(
        isinstance(v, (bool, np.bool_)) for v in value
    ):
        value = [int(v) for v in value]
    return _make_attribute(key, value, *args, **kwargs)


onnx.helper.make_attribute = _make_attribute_with_int_bools


def split(data, stratify):
    x, y = data.data, data.target
    return train_test_split(
        x, y, test_size=0.2, random_state=SEED, stratify=y if stratify else None
    )


def write_data(d, names, x_train, y_train, x_test, y_test, expected, expected_header):
    write_rows(
        os.path.join(d, "train.csv"), names + ["target"], np.column_stack([x_train, y_train])
    )
    write_rows(
        os.path.join(d, "test.csv"), names + ["target"], np.column_stack([x_test, y_test])
    )
    write_rows(os.path.join(d, "expected.csv"), expected_header, expected)


def predictions(model, x, classifier):
    return model.predict_proba(x) if classifier else model.predict(x).reshape(-1, 1)


def export_lightgbm(out_dir, fixture_id, data, model, classifier):
    x_train, x_test, y_train, y_test = split(data, classifier)
    model.fit(x_train, y_train)
    d = os.path.join(out_dir, fixture_id)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.txt")
    model.booster_.save_model(path)
    expected = predictions(model, x_test, classifier)
    reloaded = lightgbm.Booster(model_file=path).predict(x_test)
    reloaded = reloaded.reshape(len(x_test), -1)
    if classifier and reloaded.shape[1] == 1:
        reloaded = np.column_stack([1 - reloaded[:, 0], reloaded[:, 0]])
    assert np.allclose(reloaded, expected, atol=1e-12), fixture_id
    header = [str(c) for c in data.target_names] if classifier else ["prediction"]
    write_data(d, feature_names(data.feature_names), x_train, y_train, x_test, y_test, expected, header)
    print(fixture_id, model.booster_.num_trees(), "trees")


def export_onnx(out_dir, fixture_id, data, model, classifier):
    x_train, x_test, y_train, y_test = split(data, classifier)
    model.fit(x_train, y_train)
    d = os.path.join(out_dir, fixture_id)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    onx = to_onnx(model, x_train[:1].astype(np.float32))
    with open(path, "wb") as f:
        f.write(onx.SerializeToString())
    expected = predictions(model, x_test, classifier)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x_test.astype(np.float32)})
    if classifier:
        runtime = np.array([[p[k] for k in sorted(p)] for p in outputs[1]])
    else:
        runtime = outputs[0].reshape(-1, 1)
    gap = np.max(np.abs(runtime - expected) / np.maximum(np.abs(expected), 1))
    print(fixture_id, "onnxruntime vs scikit-learn: max relative gap", gap)
    assert gap < 1e-5, fixture_id
    header = [str(c) for c in data.target_names] if classifier else ["prediction"]
    write_data(d, feature_names(data.feature_names), x_train, y_train, x_test, y_test, expected, header)
    ops = sorted({n.op_type for n in onx.graph.node})
    print(fixture_id, "ops", ops)


def export_xgboost_ubjson(out_dir, fixture_id, data, model):
    x_train, x_test, y_train, y_test = split(data, True)
    model.fit(x_train, y_train)
    d = os.path.join(out_dir, fixture_id)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.ubj")
    model.get_booster().save_model(path)
    expected = model.predict_proba(x_test)
    booster = xgboost.Booster(model_file=path)
    reloaded = booster.predict(xgboost.DMatrix(x_test))
    if reloaded.ndim == 1:
        reloaded = np.column_stack([1 - reloaded, reloaded])
    assert np.allclose(reloaded, expected, atol=1e-7), fixture_id
    header = [str(c) for c in data.target_names]
    write_data(d, feature_names(data.feature_names), x_train, y_train, x_test, y_test, expected, header)
    print(fixture_id, "trees", len(booster.get_dump()))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    export_lightgbm(
        out_dir,
        "lightgbm-breast-cancer",
        load_breast_cancer(),
        lightgbm.LGBMClassifier(n_estimators=20, num_leaves=8, random_state=SEED, verbose=-1),
        True,
    )
    export_lightgbm(
        out_dir,
        "lightgbm-wine",
        load_wine(),
        lightgbm.LGBMClassifier(n_estimators=10, num_leaves=6, random_state=SEED, verbose=-1),
        True,
    )
    export_onnx(
        out_dir,
        "sklearn-random-forest",
        load_breast_cancer(),
        RandomForestClassifier(n_estimators=10, max_depth=4, random_state=SEED),
        True,
    )
    export_onnx(
        out_dir,
        "sklearn-gradient-boosting-regressor",
        load_diabetes(),
        GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=SEED),
        False,
    )
    export_onnx(
        out_dir,
        "sklearn-decision-tree",
        load_wine(),
        DecisionTreeClassifier(max_depth=4, random_state=SEED),
        True,
    )
    export_onnx(
        out_dir,
        "sklearn-hist-gradient-boosting",
        load_breast_cancer(),
        HistGradientBoostingClassifier(max_iter=20, max_depth=3, random_state=SEED),
        True,
    )
    export_xgboost_ubjson(
        out_dir,
        "xgboost-breast-cancer-ubjson",
        load_breast_cancer(),
        xgboost.XGBClassifier(n_estimators=10, max_depth=4, random_state=SEED),
    )


if __name__ == "__main__":
    main()
