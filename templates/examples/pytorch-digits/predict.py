"""What `mlc serve` (and `mlc predict`) call: the digit of 8x8 images, from the model.pt that train.py saved.

The server passes each request's tensors by name as nested lists; "pixels" is one row of 64 values per image, 0..16
as in scikit-learn's digits (train.py scales them by 1/16 the same way). Try it against a served model:

    curl -H "Authorization: Bearer $TOKEN" -d '{"inputs": [{"name": "pixels", "shape": [1, 64], "datatype": "FP32",
         "data": [0, 0, 5, 13, 9, 1, 0, 0, ...]}]}' http://127.0.0.1:PORT/v2/models/NAME/infer
"""
import os

import torch
from torch import nn

# What the server's metadata names and checks requests against (-1: any number of images).
INPUTS = [{"name": "pixels", "datatype": "FP32", "shape": [-1, 64]}]
OUTPUTS = [
    {"name": "digit", "datatype": "INT64", "shape": [-1]},
    {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
]


def load(model_dir):
    path = os.path.join(model_dir, "model.pt")
    try:
        # Tensors only: a model file is data, and torch.load of a full pickle would run whatever it holds.
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except TypeError:  # torch before 1.13 has no weights_only
        saved = torch.load(path, map_location="cpu")
    state = saved.get("state_dict", saved)
    # train.py's net is Linear(64, hidden), ReLU, Linear(hidden, 10): the first weight's rows are the hidden size.
    hidden = state["0.weight"].shape[0]
    model = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    model.load_state_dict(state)
    model.eval()
    return model


def predict(model, inputs):
    x = torch.tensor(inputs["pixels"], dtype=torch.float32) / 16.0
    with torch.no_grad():
        probabilities = torch.softmax(model(x), dim=1)
    return {"digit": probabilities.argmax(1), "probabilities": probabilities}
