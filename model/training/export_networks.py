"""Train the neural networks Blindfold imports through ONNX: scikit-learn's MLPs through
skl2onnx, and a PyTorch network through torch.onnx.export.

Run once by the model owner (needs `pip install scikit-learn skl2onnx onnx onnxruntime torch`,
which `pip install concrete-ml==1.9.0` brings too); the outputs are committed.

    python3 model/training/export_networks.py model/fixtures

Each fixture is written like the other ONNX fixtures (model.onnx, train.csv, test.csv,
expected.csv: the library's own predictions on the test rows), and checked against onnxruntime
to 1e-5.
"""

import os
import sys

import numpy as np
import onnxruntime
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from export_formats import export_onnx, split, write_data
from train import SEED, feature_names


def export_torch(out_dir, fixture_id, data):
    """A 30 -> 16 -> 8 -> 2 ReLU network trained on standardised rows, the standardisation
    folded into its first layer so that it reads the raw features; expected: softmax(logits)."""
    x_train, x_test, y_train, y_test = split(data, True)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    torch.manual_seed(SEED)
    net = torch.nn.Sequential(
        torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)
    )
    inputs = torch.tensor((x_train - mean) / std, dtype=torch.float32)
    targets = torch.tensor(y_train, dtype=torch.long)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(300):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(inputs), targets)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        first = net[0]
        first.bias -= first.weight @ torch.tensor(mean / std, dtype=torch.float32)
        first.weight /= torch.tensor(std, dtype=torch.float32)
    d = os.path.join(out_dir, fixture_id)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    torch.onnx.export(
        net, torch.zeros(1, 30), path, input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "rows"}}
    )
    with torch.no_grad():
        expected = torch.softmax(net(torch.tensor(x_test, dtype=torch.float32)), dim=1).double().numpy()
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    logits = session.run(None, {"x": x_test.astype(np.float32)})[0]
    runtime = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    gap = np.max(np.abs(runtime - expected))
    print(fixture_id, "onnxruntime vs torch: max gap", gap, "accuracy", np.mean(expected.argmax(1) == y_test))
    assert gap < 1e-5, fixture_id
    header = [str(c) for c in data.target_names]
    write_data(d, feature_names(data.feature_names), x_train, y_train, x_test, y_test, expected, header)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    export_onnx(
        out_dir,
        "sklearn-mlp-classifier",
        load_breast_cancer(),
        make_pipeline(StandardScaler(), MLPClassifier((30,), max_iter=1000, random_state=0)),
        True,
    )
    export_onnx(
        out_dir,
        "sklearn-mlp-regressor",
        load_diabetes(),
        make_pipeline(StandardScaler(), MLPRegressor((16,), max_iter=3000, random_state=0)),
        False,
    )
    export_torch(out_dir, "torch-mlp", load_breast_cancer())


if __name__ == "__main__":
    main()
