"""What `mlc serve` and `mlc predict` call to apply the model a run saved; fill in what your network needs.

`mlc model save` copies the run's outputs (here model.pt, from torch.save(model.state_dict(), "model.pt")) into
model_dir. The server calls load(model_dir) once, then predict(model, inputs) for each request: inputs maps each input
tensor's name to nested lists shaped as the request says, and predict returns {name: tensor or list}.

As written it takes one input, whatever its name, and returns one output named "output". It rebuilds the network from
the weights alone only for an nn.Sequential of Linear layers with ReLU between them (what `mlc quickstart`'s train.py
saves); for any other network, make build_model() return yours. Declare INPUTS and OUTPUTS (lists of
{"name", "datatype", "shape"}, -1 for any size) and the server names them and checks requests against them, e.g.

    INPUTS = [{"name": "pixels", "datatype": "FP32", "shape": [-1, 64]}]
"""
import os
import pickle
import re

import torch
from torch import nn

# The file the run saves (list it under `outputs:` in configs/experiment.yaml, or pass `mlc model save --files`).
MODEL_FILE = "model.pt"
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def build_model(state):
    """The network whose weights `state` (a state_dict) holds, not yet loaded: replace with your own, e.g. MyNet()."""
    model = sequential_mlp(state) if isinstance(state, dict) else None
    if model is None:
        held = f"keys {', '.join(map(str, list(state)[:3]))}, ..." if isinstance(state, dict) else f"a {type(state).__name__}"
        raise NotImplementedError(f"write build_model() in predict.py to return the network {MODEL_FILE}'s weights belong to ({held})")
    return model


def sequential_mlp(state):
    """nn.Sequential(Linear, ReLU, Linear, ...) when the keys are those of one ("0.weight", "0.bias", "2.weight", ...)."""
    found = [re.fullmatch(r"(\d+)\.(weight|bias)", k) for k in state]
    if not found or not all(found):
        return None
    indices = sorted({int(m.group(1)) for m in found})
    if indices != list(range(0, 2 * len(indices), 2)):
        return None
    layers = []
    for i in indices:
        weight = state[f"{i}.weight"] if f"{i}.weight" in state else None
        if weight is None or weight.dim() != 2 or (layers and layers[-2].out_features != weight.shape[1]):
            return None
        layers += [nn.Linear(weight.shape[1], weight.shape[0], bias=f"{i}.bias" in state), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def load(model_dir):
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {MODEL_FILE} in {model_dir}: save it from the run, or set MODEL_FILE in predict.py to the file it saves")
    try:
        # Tensors only: a model file is data, and a full pickle would run whatever code it holds.
        state = torch.load(path, map_location=DEVICE, weights_only=True)
    except pickle.UnpicklingError:
        raise NotImplementedError(
            f"{MODEL_FILE} is a whole pickled model, which loads only by running code from the file: save model.state_dict() instead, or write load() in predict.py"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a checkpoint that keeps the optimizer's state beside the weights
    model = build_model(state)
    model.load_state_dict(state)
    return model.to(DEVICE).eval()


def predict(model, inputs):
    if len(inputs) != 1:
        raise ValueError(f"predict.py takes one input and got {len(inputs)} ({', '.join(inputs)}): write predict() for yours")
    (values,) = inputs.values()
    x = torch.tensor(values, dtype=torch.float32, device=DEVICE)
    with torch.no_grad():
        return {"output": model(x)}
