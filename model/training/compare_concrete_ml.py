"""Concrete ML against Blindfold on the same model family, split and machine, side by side.

Run from the repository root after `cargo build --release -p blindfold-model --bin bench`, in a
virtual environment with Concrete ML (`pip install concrete-ml==1.9.0`, which brings
scikit-learn and torch):

    python3 model/training/compare_concrete_ml.py [--rows 20] [--family linear|network]

For the breast cancer split of the fixtures (80/20, stratified, seed 42) it trains Concrete ML's
`LogisticRegression` with its defaults (8 bits) on the raw features, as a user would, and on
standardised ones (the scaler in the clear before it, as Blindfold folds it), compiles each,
and times the server's part of a prediction (`circuit.run` on an encrypted row) over `--rows`
test rows after a warm-up; accuracy is on every test row (Concrete ML's linear models compute
the same under FHE as in simulation). Then it runs Blindfold's bench on the same model trained
by scikit-learn (`sklearn-logistic-regression`, a scaler and a logistic regression), and prints
one JSON object with both.

With `--family network` it trains Concrete ML's `NeuralNetClassifier` of the fixture's shape
(30 -> 30 -> 2, ReLU, its default quantization-aware training) on standardised features,
compiles and times it the same way (accuracy in simulation, which Concrete ML's rounding makes
approximate under FHE), and runs Blindfold's bench on scikit-learn's MLP of the same shape
(`sklearn-mlp-classifier`).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
from concrete.ml.sklearn import LogisticRegression
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

SEED = 42


def timed(model, x_test, rows):
    """Median server time of `circuit.run` over `rows` test rows after a warm-up."""
    circuit = model.fhe_circuit
    circuit.keygen()
    times = []
    for i in range(rows + 1):
        encrypted = circuit.encrypt(model.quantize_input(x_test[i : i + 1]))
        start = time.perf_counter()
        result = circuit.run(encrypted)
        elapsed = time.perf_counter() - start
        circuit.decrypt(result)
        if i > 0:
            times.append(elapsed)
    return statistics.median(times), circuit.statistics.get("programmable_bootstrap_count", None)


def concrete_ml(x_train, y_train, x_test, y_test, rows):
    model = LogisticRegression()
    model.fit(x_train, y_train)
    model.compile(x_train)
    accuracy = float(np.mean(model.predict(x_test, fhe="simulate") == y_test))
    median, pbs = timed(model, x_test, rows)
    return {"accuracy": accuracy, "server_median_s": median, "n_bits": model.n_bits, "pbs": pbs}


def bench(args, model):
    """Blindfold's bench on fixture `model`: what the comparison reads of its JSON."""
    run = subprocess.run(
        [args.bench, "--model", model, "--rows", str(args.rows), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    return {
        "accuracy": figures["accuracy_quantized"],
        "accuracy_float": figures["accuracy_float"],
        "server_median_s": figures["median_latency_s"],
        "pbs": figures["pbs_per_inference"],
        "row_bytes": figures["input_bytes"],
        "result_bytes": figures["output_bytes"],
        "exact_rows": figures["exact_rows"],
    }


def network(x_train, y_train, x_test, y_test, args):
    import torch
    from concrete.ml.sklearn import NeuralNetClassifier

    torch.manual_seed(SEED)
    scaler = StandardScaler().fit(x_train)
    x_train = scaler.transform(x_train).astype(np.float32)
    x_test = scaler.transform(x_test).astype(np.float32)
    model = NeuralNetClassifier(
        module__n_layers=2,
        module__n_hidden_neurons_multiplier=1,
        module__activation_function=torch.nn.ReLU,
        max_epochs=100,
        verbose=0,
    )
    model.fit(x_train, y_train.astype(np.int64))
    model.compile(x_train)
    accuracy = float(np.mean(model.predict(x_test, fhe="simulate") == y_test))
    median, pbs = timed(model, x_test, args.rows)
    blindfold = bench(args, "sklearn-mlp-classifier")
    print(
        json.dumps(
            {
                "model": "MLP 30 -> 30 -> 2 (ReLU), breast cancer (80/20, stratified, seed 42)",
                "concrete_ml": {"accuracy": accuracy, "server_median_s": median, "pbs": pbs},
                "blindfold": blindfold,
                "speedup_vs_concrete_ml": median / blindfold["server_median_s"],
            }
        )
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--bench", default="target/release/bench")
    parser.add_argument("--family", choices=["linear", "network"], default="linear")
    args = parser.parse_args()

    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=SEED, stratify=y
    )
    if args.family == "network":
        return network(x_train, y_train, x_test, y_test, args)
    raw = concrete_ml(x_train, y_train, x_test, y_test, args.rows)
    scaler = StandardScaler().fit(x_train)
    scaled = concrete_ml(scaler.transform(x_train), y_train, scaler.transform(x_test), y_test, args.rows)

    blindfold = bench(args, "sklearn-logistic-regression")
    print(
        json.dumps(
            {
                "model": "logistic regression, breast cancer (80/20, stratified, seed 42)",
                "concrete_ml_raw_features": raw,
                "concrete_ml_standardised": scaled,
                "blindfold": blindfold,
                "speedup_vs_concrete_ml_raw": raw["server_median_s"] / blindfold["server_median_s"],
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
