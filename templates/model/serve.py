"""The model server of ML Containers: the Open Inference Protocol (V2) REST, as KServe, Triton and MLServer speak it.

Standard library only, so it runs in any image with Python 3.8 or newer. It imports the project's predict.py, which
gives two functions:

    load(model_dir)          -> model        (called once, before the server reports ready)
    predict(model, inputs)   -> outputs      (inputs: {name: nested lists shaped as the request says})

`predict` returns {name: data} (lists, or anything with .tolist(), such as numpy arrays and torch tensors), or the
data alone for a single output named "output". predict.py may also declare INPUTS and OUTPUTS, lists of
{"name", "datatype", "shape"} (-1 for any size): the metadata then names them and requests are checked against them.

    GET  /v2/health/live | /v2/health/ready            (no token: probes carry none, and they say nothing else)
    GET  /v2  /v2/models/NAME[/versions/V][/ready]     metadata, with the model card
    POST /v2/models/NAME[/versions/V]/infer

Every other request needs `Authorization: Bearer <MLC_SERVE_TOKEN>`. Without MLC_SERVE_TOKEN the server refuses to
start unless MLC_SERVE_AUTH=none says the network in front of it does the authentication (a KServe mesh).
"""
import argparse
import hmac
import importlib.util
import json
import math
import os
import signal
import sys
import threading
import traceback
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_DIR = "/opt/mlc/model"
PREDICT = "/opt/mlc/predict.py"
CARD_JSON = "card.json"
DEFAULT_PORT = 8080
DEFAULT_MAX_BODY = 64 * 1024 * 1024
# An idle keep-alive connection is closed after this long, so idle clients cannot hold the server's threads.
IDLE_TIMEOUT_S = 120
SERVER_NAME = "mlcontainers"
SERVER_VERSION = "1"

INT_RANGES = {
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
}
FLOAT_TYPES = ("FP16", "FP32", "FP64")
DATATYPES = ("BOOL", "BYTES") + tuple(INT_RANGES) + FLOAT_TYPES
# numpy's dtype names (and torch's, after "torch.") → V2 datatypes, for outputs that are arrays.
ARRAY_TYPES = {
    "bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
    "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
    "float16": "FP16", "float32": "FP32", "float64": "FP64", "half": "FP16", "float": "FP32", "double": "FP64",
    "long": "INT64", "int": "INT32", "short": "INT16",
}


class BadRequest(Exception):
    """A request the client must change: 400 with its message."""


def check_tensor(t, where):
    """A V2 tensor from a request, checked: returns (name, shape, datatype, nested data shaped as `shape`)."""
    if not isinstance(t, dict):
        raise BadRequest(f"{where} is not an object with name, shape, datatype and data")
    name, shape, datatype, data = t.get("name"), t.get("shape"), t.get("datatype"), t.get("data")
    if not isinstance(name, str) or not name:
        raise BadRequest(f"{where} has no name")
    if not isinstance(shape, list) or len(shape) > 32 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise BadRequest(f"input {name}: shape must be a list of at most 32 non-negative integers")
    if datatype not in DATATYPES:
        raise BadRequest(f"input {name}: datatype {json.dumps(datatype)[:40]} is not one of {', '.join(DATATYPES)}")
    if not isinstance(data, list):
        raise BadRequest(f"input {name}: data must be a list")
    flat = flatten(data, name)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise BadRequest(f"input {name}: shape {shape} holds {expected} values, data has {len(flat)}")
    for value in flat:
        check_value(value, datatype, name)
    return name, shape, datatype, reshape(flat, shape)


def flatten(data, name):
    """V2 takes data flat (row-major) or nested; either way the values, in order. Iterative: no recursion limit."""
    out, stack = [], [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) > 64:
                    raise BadRequest(f"input {name}: data is nested deeper than 64 levels")
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def check_value(value, datatype, name):
    if datatype == "BOOL":
        ok = isinstance(value, bool)
    elif datatype == "BYTES":
        ok = isinstance(value, str)
    elif datatype in INT_RANGES:
        low, high = INT_RANGES[datatype]
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise BadRequest(f"input {name}: {json.dumps(value)[:40]} is not a {datatype} value")


def reshape(flat, shape):
    """Row-major flat values as nested lists of `shape` (a scalar shape [] gives the one value)."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = math.prod(shape[1:])
    return [reshape(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def shape_matches(declared, shape):
    return isinstance(declared, list) and len(declared) == len(shape) and all(d == -1 or d == s for d, s in zip(declared, shape))


def to_tensor(name, value, datatype=None):
    """An output of predict as a V2 tensor: shape from the nesting, datatype declared, from the array, or guessed."""
    array_type = None
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        array_type = ARRAY_TYPES.get(str(dtype).replace("torch.", ""))
    if hasattr(value, "detach"):
        value = value.detach()
    if hasattr(value, "cpu"):
        value = value.cpu()
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    shape, level = [], value
    while isinstance(level, (list, tuple)):
        shape.append(len(level))
        level = level[0] if level else None
    flat = flatten(value, name) if isinstance(value, list) else [value]
    if len(flat) != math.prod(shape):
        raise TypeError(f"predict's output {name} is ragged: its rows differ in length")
    datatype = datatype or array_type or guess_type(flat)
    return {"name": name, "shape": shape, "datatype": datatype, "data": flat}


def guess_type(flat):
    if all(isinstance(v, bool) for v in flat):
        return "BOOL" if flat else "FP32"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in flat):
        return "INT64"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        return "FP64"
    if all(isinstance(v, str) for v in flat):
        return "BYTES"
    raise TypeError("predict returned values that are neither all numbers, all booleans nor all strings")


class Model:
    """predict.py and what load() gave, plus what the metadata says about them."""

    def __init__(self, predict_path, model_dir, name):
        self.name = name
        self.model_dir = model_dir
        self.module = import_file(predict_path)
        for fn in ("load", "predict"):
            if not callable(getattr(self.module, fn, None)):
                raise SystemExit(f"{predict_path} has no {fn}() function: predict.py gives load(model_dir) and predict(model, inputs)")
        self.inputs = declared(self.module, "INPUTS")
        self.outputs = declared(self.module, "OUTPUTS")
        self.card = read_card(model_dir)
        run = self.card.get("run") if isinstance(self.card, dict) else None
        self.version = run if isinstance(run, str) and run else "1"
        self.loaded = None
        self.ready = threading.Event()
        # predict() runs one request at a time, as most model code assumes; parsing and JSON stay concurrent.
        self.lock = threading.Lock()

    def load(self):
        self.loaded = self.module.load(self.model_dir)
        self.ready.set()

    def metadata(self):
        out = {"name": self.name, "versions": [self.version], "platform": "mlcontainers_python"}
        if self.inputs is not None:
            out["inputs"] = self.inputs
        if self.outputs is not None:
            out["outputs"] = self.outputs
        if self.card is not None:
            out["parameters"] = {"card": self.card}
        return out

    def infer(self, body):
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object with inputs")
        request_id = body.get("id")
        if request_id is not None and not isinstance(request_id, str):
            raise BadRequest("id must be a string")
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise BadRequest("inputs must be a non-empty list of tensors")
        tensors = {}
        for i, t in enumerate(inputs):
            name, shape, datatype, data = check_tensor(t, f"inputs[{i}]")
            if name in tensors:
                raise BadRequest(f"input {name} is given twice")
            tensors[name] = (shape, datatype, data)
        if self.inputs is not None:
            for d in self.inputs:
                given = tensors.get(d.get("name"))
                if given is None:
                    raise BadRequest(f"input {d.get('name')} is missing (the model takes {', '.join(str(x.get('name')) for x in self.inputs)})")
                if not shape_matches(d.get("shape"), given[0]):
                    raise BadRequest(f"input {d.get('name')}: shape {given[0]} does not fit {d.get('shape')}")
                if d.get("datatype") and d["datatype"] != given[1]:
                    raise BadRequest(f"input {d.get('name')}: datatype {given[1]}, the model takes {d['datatype']}")
        wanted = body.get("outputs")
        names = None
        if wanted is not None:
            if not isinstance(wanted, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted):
                raise BadRequest("outputs must be a list of {\"name\": ...}")
            names = [o["name"] for o in wanted]
        with self.lock:
            result = self.module.predict(self.loaded, {name: t[2] for name, t in tensors.items()})
        if not isinstance(result, dict):
            result = {"output": result}
        types = {o.get("name"): o.get("datatype") for o in self.outputs or []}
        if names is not None:
            missing = [n for n in names if n not in result]
            if missing:
                raise BadRequest(f"output {missing[0]} is not one this model gives ({', '.join(map(str, result))})")
            result = {n: result[n] for n in names}
        outputs = [to_tensor(str(name), value, types.get(name)) for name, value in result.items()]
        return {"model_name": self.name, "model_version": self.version, "id": request_id or uuid.uuid4().hex, "outputs": outputs}


def import_file(path):
    spec = importlib.util.spec_from_file_location("predict", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    # Beside predict.py: a helper module it imports is found there.
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    sys.modules["predict"] = module
    spec.loader.exec_module(module)
    return module


def declared(module, attr):
    value = getattr(module, attr, None)
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(d, dict) and isinstance(d.get("name"), str) for d in value):
        raise SystemExit(f"predict.py's {attr} must be a list of {{\"name\", \"datatype\", \"shape\"}}")
    return [dict(d) for d in value]


def read_card(model_dir):
    try:
        with open(os.path.join(model_dir, CARD_JSON), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


class Handler(BaseHTTPRequestHandler):
    # Keep-alive: a client sends its next request on the same connection, without a new TCP handshake.
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: with Nagle's algorithm the second waits for the client's delayed ACK
    # (40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    server_version = f"{SERVER_NAME}/{SERVER_VERSION}"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        self.body_read = False
        server = self.server
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            if path == "/v2/health/live" and method == "GET":
                return self.reply(200, {"live": True})
            if path == "/v2/health/ready" and method == "GET":
                ready = server.model.ready.is_set()
                return self.reply(200 if ready else 503, {"ready": ready})
            if not self.authorized():
                return self.reply(401, {"error": "this server wants Authorization: Bearer <token> (mlc serve printed it)"}, {"WWW-Authenticate": "Bearer"})
            if path == "/v2" and method == "GET":
                return self.reply(200, {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": []})
            model = server.model
            parts = path.split("/")
            if len(parts) < 4 or parts[1:3] != ["v2", "models"]:
                return self.reply(404, {"error": f"no such endpoint: {method} {path[:200]}"})
            name, rest = parts[3], parts[4:]
            if name != model.name:
                return self.reply(404, {"error": f"no model {name[:200]} here; this server has {model.name}"})
            if rest[:1] == ["versions"]:
                if len(rest) < 2 or rest[1] != model.version:
                    return self.reply(404, {"error": f"model {model.name} has version {model.version} only"})
                rest = rest[2:]
            if rest == [] and method == "GET":
                return self.reply(200, model.metadata())
            if rest == ["ready"] and method == "GET":
                ready = model.ready.is_set()
                return self.reply(200 if ready else 503, {"name": model.name, "ready": ready})
            if rest == ["infer"] and method == "POST":
                return self.infer(model)
            return self.reply(404, {"error": f"no such endpoint: {method} {path[:200]}"})
        except BadRequest as e:
            self.reply(400, {"error": str(e)})
        except Exception as e:  # noqa: BLE001 - a bug of ours answers 500 rather than dropping the connection
            traceback.print_exc()
            self.reply(500, {"error": f"{type(e).__name__}: {e}"})

    def infer(self, model):
        body = self.read_body()
        if body is None:
            return
        if not model.ready.is_set():
            return self.reply(503, {"error": f"model {model.name} is still loading"})
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"the body is not JSON: {e}")
        try:
            answer = model.infer(parsed)
        except BadRequest:
            raise
        except Exception as e:  # noqa: BLE001 - whatever predict raises is the client's 500, and the server goes on
            traceback.print_exc()
            return self.reply(500, {"error": f"{type(e).__name__}: {e}"})
        self.reply(200, answer)

    def authorized(self):
        token = self.server.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        # compare_digest takes as long whatever the first wrong byte: the token cannot be guessed byte by byte.
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())

    def read_body(self):
        """The request body, or None after an error reply (too large, no length)."""
        cap = self.server.max_body
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked(cap)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.reply(411, {"error": "send the body with a Content-Length"})
            return None
        if int(length) > cap:
            self.reply(413, {"error": f"the body has {length} bytes; this server takes at most {cap} (MLC_SERVE_MAX_BODY)"})
            return None
        self.body_read = True
        return self.rfile.read(int(length))

    def read_chunked(self, cap):
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024).strip().split(b";", 1)[0]
            try:
                size = int(line, 16)
            except ValueError:
                self.reply(400, {"error": "malformed chunked body"})
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                self.body_read = True
                return b"".join(chunks)
            total += size
            if total > cap:
                self.reply(413, {"error": f"the body has more than {cap} bytes, the most this server takes (MLC_SERVE_MAX_BODY)"})
                return None
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def reply(self, status, payload, headers=None):
        # A body left unread (refused, too large, a wrong path) would be read as the next request: close instead.
        if self.command == "POST" and not getattr(self, "body_read", False):
            self.close_connection = True
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-"):
        # Successful requests go unlogged (a thousand a second would drown the log); errors are told, except the
        # health checks' 503 while loading: probes ask every 100 ms, and the log's last lines must say why it is slow.
        if isinstance(code, HTTPStatus):
            code = code.value
        if isinstance(code, int) and code >= 400 and not self.path.startswith("/v2/health/"):
            self.log_message('"%s" %s', self.requestline[:200], str(code))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many clients at once (a benchmark's eight, a burst): the kernel queues their connects instead of refusing.
    request_queue_size = 128

    def __init__(self, address, model, token, max_body):
        self.model = model
        self.token = token
        self.max_body = max_body
        super().__init__(address, Handler)


def make_server(host, port, model, token, max_body=DEFAULT_MAX_BODY):
    return Server((host, port), model, token, max_body)


def token_from_env(env):
    token = env.get("MLC_SERVE_TOKEN") or None
    if token is None and env.get("MLC_SERVE_AUTH") != "none":
        raise SystemExit("MLC_SERVE_TOKEN is not set: give the server a token (mlc serve does), or set MLC_SERVE_AUTH=none where the network in front of it authenticates")
    return token


def main(argv=None):
    env = os.environ
    p = argparse.ArgumentParser(description="Serve predict.py over the Open Inference Protocol (V2) REST.")
    p.add_argument("--host", default=env.get("MLC_SERVE_HOST", "127.0.0.1"), help="address to listen on (in a container: 0.0.0.0)")
    p.add_argument("--port", type=int, default=int(env.get("MLC_SERVE_PORT", DEFAULT_PORT)))
    p.add_argument("--predict", default=env.get("MLC_PREDICT", PREDICT), help="the project's predict.py")
    p.add_argument("--model-dir", default=env.get("MLC_MODEL_DIR", MODEL_DIR))
    p.add_argument("--name", default=env.get("MLC_MODEL_NAME", "model"), help="the model's name in /v2/models/NAME")
    args = p.parse_args(argv)
    token = token_from_env(env)
    max_body = int(env.get("MLC_SERVE_MAX_BODY", DEFAULT_MAX_BODY))
    model = Model(args.predict, args.model_dir, args.name)
    server = make_server(args.host, args.port, model, token, max_body)
    # `docker stop` and Kubernetes end a container with SIGTERM, which a PID 1 without a handler ignores: the engine
    # then waits out its grace period and kills it. shutdown() waits for serve_forever, so it runs in a thread.
    # Set before anything is printed: whoever waits for "ready" may stop the server the moment it reads it.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"serving {model.name} (version {model.version}) on {args.host}:{server.server_address[1]}; loading {args.model_dir}", file=sys.stderr, flush=True)

    def load():
        try:
            model.load()
            print(f"{model.name} loaded: ready", file=sys.stderr, flush=True)
        except BaseException:  # noqa: BLE001 - a model that cannot load ends the server, with the reason in its log
            traceback.print_exc()
            print("load() failed: the server stops", file=sys.stderr, flush=True)
            os._exit(1)

    threading.Thread(target=load, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
