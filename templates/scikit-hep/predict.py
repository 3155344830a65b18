"""What `mlc serve` and `mlc predict` call to apply the model a run saved; fill in what your model needs.

Assumes the analysis saved a Python object with a predict(rows) method (a scikit-learn or XGBoost classifier, say) with
pickle.dump to model.pkl; `mlc model save` copies the run's outputs into model_dir. pickle runs code from the file as
it loads it: serve only models your own runs saved. Standard library only, so it runs in this preset's image; for a
joblib file, an ONNX model or a TMVA weight file, write load() and predict() for it.

The server calls load(model_dir) once, then predict(model, inputs) for each request: inputs maps each input tensor's
name to nested lists shaped as the request says, and predict returns {name: array or list}. As written it takes one
input, whatever its name, and returns one output named "output". Declare INPUTS and OUTPUTS (lists of
{"name", "datatype", "shape"}, -1 for any size) and the server names them and checks requests against them, e.g.

    INPUTS = [{"name": "features", "datatype": "FP32", "shape": [-1, 12]}]
"""
import os
import pickle

# The file the run saves (list it under `outputs:` in configs/experiment.yaml, or pass `mlc model save --files`).
MODEL_FILE = "model.pkl"


def load(model_dir):
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {MODEL_FILE} in {model_dir}: save it from the run with pickle.dump, or set MODEL_FILE in predict.py to the file it saves")
    with open(path, "rb") as f:
        return pickle.load(f)


def predict(model, inputs):
    if len(inputs) != 1:
        raise ValueError(f"predict.py takes one input and got {len(inputs)} ({', '.join(inputs)}): write predict() for yours")
    if not callable(getattr(model, "predict", None)):
        raise NotImplementedError(f"write predict() in predict.py: the {type(model).__name__} in {MODEL_FILE} has no predict method to call")
    (values,) = inputs.values()
    return {"output": model.predict(values)}
