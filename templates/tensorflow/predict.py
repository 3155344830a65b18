"""What `mlc serve` and `mlc predict` call to apply the model a run saved; fill in what your model needs.

Assumes the run saved a Keras model with model.save("model.keras"); `mlc model save` copies the run's outputs into
model_dir. The server calls load(model_dir) once, then predict(model, inputs) for each request: inputs maps each input
tensor's name to nested lists shaped as the request says, and predict returns {name: array or list}.

As written it takes one input, whatever its name, and returns one output named "output". Declare INPUTS and OUTPUTS
(lists of {"name", "datatype", "shape"}, -1 for any size) and the server names them and checks requests against
them, e.g.

    INPUTS = [{"name": "image", "datatype": "FP32", "shape": [-1, 224, 224, 3]}]
"""
import os

import tensorflow as tf

# The file the run saves (list it under `outputs:` in configs/experiment.yaml, or pass `mlc model save --files`).
MODEL_FILE = "model.keras"


def load(model_dir):
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {MODEL_FILE} in {model_dir}: save it from the run with model.save, or set MODEL_FILE in predict.py to the file it saves")
    return tf.keras.models.load_model(path)


def predict(model, inputs):
    if len(inputs) != 1:
        raise ValueError(f"predict.py takes one input and got {len(inputs)} ({', '.join(inputs)}): write predict() for yours")
    (values,) = inputs.values()
    x = tf.convert_to_tensor(values, dtype=tf.float32)
    return {"output": model(x, training=False).numpy()}
