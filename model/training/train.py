"""Train the XGBoost models that Blindfold ships as its default and test fixtures.

Run once by the model owner (needs `pip install scikit-learn xgboost`); the outputs are committed
so that neither the tests nor the app need Python.

    python3 model/training/train.py model/fixtures

For each data set it writes, under the output folder:
  <name>/model.json        booster.save_model() output (XGBoost JSON format)
  <name>/train.csv         calibration rows (the training split), header = feature names + "target"
  <name>/test.csv          held-out rows, header = feature names + "target"
  <name>/expected.csv      xgboost's own predictions on the test rows (predict_proba or predict)
"""

import csv
import os
import sys

import numpy as np
import xgboost
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.model_selection import train_test_split

SEED = 42


def feature_names(names):
    # Names become CSV headers and form labels: keep them as scikit-learn spells them.
    return [str(n) for n in names]


def write_rows(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow([repr(float(v)) for v in row])


def export(out_dir, name, data, model, stratify, expected_header, expected_fn):
    x, y = data.data, data.target
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=SEED, stratify=y if stratify else None
    )
    model.fit(x_train, y_train)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    model.get_booster().save_model(os.path.join(d, "model.json"))
    names = feature_names(data.feature_names)
    write_rows(
        os.path.join(d, "train.csv"), names + ["target"], np.column_stack([x_train, y_train])
    )
    write_rows(
        os.path.join(d, "test.csv"), names + ["target"], np.column_stack([x_test, y_test])
    )
    write_rows(os.path.join(d, "expected.csv"), expected_header, expected_fn(model, x_test))
    print(name, "train", x_train.shape, "test", x_test.shape)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    bc = load_breast_cancer()
    export(
        out_dir,
        "breast-cancer",
        bc,
        xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=SEED),
        True,
        [str(c) for c in bc.target_names],
        lambda m, x: m.predict_proba(x),
    )
    wine = load_wine()
    export(
        out_dir,
        "wine",
        wine,
        xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=SEED),
        True,
        [str(c) for c in wine.target_names],
        lambda m, x: m.predict_proba(x),
    )
    export(
        out_dir,
        "diabetes",
        load_diabetes(),
        xgboost.XGBRegressor(n_estimators=20, max_depth=3, random_state=SEED),
        False,
        ["prediction"],
        lambda m, x: m.predict(x).reshape(-1, 1),
    )


if __name__ == "__main__":
    main()
