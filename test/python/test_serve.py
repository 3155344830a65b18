"""templates/model/serve.py against a tiny predict.py, over real sockets on 127.0.0.1 (python3 -m unittest).

The server runs in a thread on a port the kernel picks; every request goes through http.client, as a client would.
"""
import hmac
import http.client
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
SERVE = os.path.join(HERE, "..", "..", "templates", "model", "serve.py")
TOKEN = "t0ken-for-the-tests-0123456789abcdef"

spec = importlib.util.spec_from_file_location("mlc_serve", SERVE)
serve = importlib.util.module_from_spec(spec)
spec.loader.exec_module(serve)
# The tests' refusals would fill the output with request lines; what is logged is not what they test.
serve.Handler.log_message = lambda self, *args: None

# Declares its tensors; scales each row's sum by the factor load() read from the model folder; raises on demand.
DECLARED = '''
import os
INPUTS = [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]
OUTPUTS = [{"name": "sum", "datatype": "FP32", "shape": [-1]}, {"name": "rows", "datatype": "INT64", "shape": [1]}]

def load(model_dir):
    with open(os.path.join(model_dir, "scale.txt")) as f:
        return {"scale": float(f.read())}

def predict(model, inputs):
    x = inputs["x"]
    if any(v < 0 for row in x for v in row):
        raise ValueError("negative values are not pixels")
    return {"sum": [sum(row) * model["scale"] for row in x], "rows": [len(x)]}
'''

# Declares nothing and returns a bare list: one output named "output".
BARE = '''
def load(model_dir):
    return None

def predict(model, inputs):
    return [len(v) for v in inputs.values()]
'''


def start(test_dir, source, max_body=serve.DEFAULT_MAX_BODY, name="tiny", load=True):
    folder = tempfile.mkdtemp(dir=test_dir)
    with open(os.path.join(folder, "predict.py"), "w") as f:
        f.write(source)
    model_dir = os.path.join(folder, "model")
    os.mkdir(model_dir)
    with open(os.path.join(model_dir, "scale.txt"), "w") as f:
        f.write("2")
    with open(os.path.join(model_dir, "card.json"), "w") as f:
        json.dump({"run": "20261205-000000-abcd", "metrics": {"val_acc": 0.9}}, f)
    model = serve.Model(os.path.join(folder, "predict.py"), model_dir, name)
    if load:
        model.load()
    server = serve.make_server("127.0.0.1", 0, model, TOKEN, max_body)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class Client:
    """One keep-alive connection."""

    def __init__(self, server, token=TOKEN):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        self.token = token

    def request(self, method, path, body=None, headers=None, token=True):
        h = {"Content-Type": "application/json"}
        if token and self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(headers or {})
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None), r

    def close(self):
        self.conn.close()


def infer_body(rows):
    return {"inputs": [{"name": "x", "shape": [len(rows), 2], "datatype": "FP32", "data": [v for r in rows for v in r]}]}


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mlc-serve-test-")
        cls.server = start(cls.dir, DECLARED)

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.client = Client(self.server)

    def tearDown(self):
        self.client.close()

    def test_health_metadata_and_infer_answer_200(self):
        for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/tiny/ready", "/v2"):
            status, body, _ = self.client.request("GET", path)
            self.assertEqual(status, 200, (path, body))
        status, meta, _ = self.client.request("GET", "/v2/models/tiny")
        self.assertEqual(status, 200)
        self.assertEqual(meta["name"], "tiny")
        self.assertEqual(meta["versions"], ["20261205-000000-abcd"])
        self.assertEqual(meta["inputs"][0]["name"], "x")
        self.assertEqual(meta["parameters"]["card"]["metrics"], {"val_acc": 0.9})
        status, out, _ = self.client.request("POST", "/v2/models/tiny/infer", {"id": "r1", **infer_body([[1, 2], [3, 4.5]])})
        self.assertEqual(status, 200, out)
        self.assertEqual(out["model_name"], "tiny")
        self.assertEqual(out["id"], "r1")
        by_name = {o["name"]: o for o in out["outputs"]}
        self.assertEqual(by_name["sum"], {"name": "sum", "shape": [2], "datatype": "FP32", "data": [6.0, 15.0]})
        self.assertEqual(by_name["rows"], {"name": "rows", "shape": [1], "datatype": "INT64", "data": [2]})

    def test_nested_data_and_the_versioned_path_and_an_outputs_choice(self):
        body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [[5, 6]]}], "outputs": [{"name": "rows"}]}
        status, out, _ = self.client.request("POST", "/v2/models/tiny/versions/20261205-000000-abcd/infer", body)
        self.assertEqual(status, 200, out)
        self.assertEqual([o["name"] for o in out["outputs"]], ["rows"])
        self.assertEqual(self.client.request("POST", "/v2/models/tiny/versions/other/infer", body)[0], 404)
        self.assertEqual(self.client.request("POST", "/v2/models/other/infer", body)[0], 404)

    def test_keeps_the_connection_alive_between_requests(self):
        self.client.request("GET", "/v2/health/ready")
        sock = self.client.conn.sock
        status, _, response = self.client.request("POST", "/v2/models/tiny/infer", infer_body([[1, 1]]))
        self.assertEqual(status, 200)
        self.assertIs(self.client.conn.sock, sock)
        self.assertEqual(response.version, 11)

    def test_no_or_a_wrong_token_is_401_and_health_needs_none(self):
        for token in (None, "wrong", TOKEN[:-1]):
            c = Client(self.server, token)
            for method, path, body in (("GET", "/v2/models/tiny", None), ("POST", "/v2/models/tiny/infer", infer_body([[1, 2]])), ("GET", "/v2", None)):
                status, out, r = c.request(method, path, body)
                self.assertEqual(status, 401, (token, path))
                self.assertEqual(r.getheader("WWW-Authenticate"), "Bearer")
                self.assertIn("error", out)
                c.close()
                c = Client(self.server, token)
            self.assertEqual(c.request("GET", "/v2/health/live")[0], 200)
            c.close()
        c = Client(self.server)
        self.assertEqual(c.request("GET", "/v2/models/tiny", headers={"Authorization": f"Basic {TOKEN}"}, token=False)[0], 401)
        c.close()

    def test_compares_the_token_in_constant_time(self):
        with mock.patch.object(serve.hmac, "compare_digest", wraps=hmac.compare_digest) as compare:
            self.client.request("GET", "/v2/models/tiny")
        compare.assert_called_once_with(TOKEN.encode(), TOKEN.encode())

    def test_a_malformed_request_is_400_and_the_next_one_succeeds(self):
        bad = [
            b"{not json",
            b"[1, 2]",
            json.dumps({"inputs": []}).encode(),
            json.dumps({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]}).encode(),
            json.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FLOAT", "data": [1, 2]}]}).encode(),
            json.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, "two"]}]}).encode(),
            json.dumps({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}).encode(),
            json.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "INT64", "data": [1, 2]}]}).encode(),
            json.dumps({"inputs": [{"name": "y", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}).encode(),
            json.dumps({"inputs": [{"name": "x", "shape": [-1, 2], "datatype": "FP32", "data": [1, 2]}]}).encode(),
            json.dumps({**infer_body([[1, 2]]), "outputs": [{"name": "nope"}]}).encode(),
        ]
        for body in bad:
            status, out, _ = self.client.request("POST", "/v2/models/tiny/infer", body)
            self.assertEqual(status, 400, (body, out))
            self.assertIsInstance(out["error"], str)
            # The same connection carries the next request, which succeeds.
            status, out, _ = self.client.request("POST", "/v2/models/tiny/infer", infer_body([[1, 2]]))
            self.assertEqual(status, 200, out)

    def test_checks_integer_ranges_and_booleans(self):
        self.assertRaises(serve.BadRequest, serve.check_tensor, {"name": "u", "shape": [1], "datatype": "UINT8", "data": [256]}, "t")
        self.assertRaises(serve.BadRequest, serve.check_tensor, {"name": "b", "shape": [1], "datatype": "INT32", "data": [True]}, "t")
        self.assertRaises(serve.BadRequest, serve.check_tensor, {"name": "b", "shape": [1], "datatype": "BOOL", "data": [1]}, "t")
        self.assertEqual(serve.check_tensor({"name": "s", "shape": [2, 1], "datatype": "BYTES", "data": ["a", "b"]}, "t")[3], [["a"], ["b"]])
        self.assertEqual(serve.check_tensor({"name": "e", "shape": [2, 0], "datatype": "FP32", "data": []}, "t")[3], [[], []])

    def test_a_predict_that_raises_is_500_with_its_message_and_the_next_one_succeeds(self):
        with mock.patch.object(serve.traceback, "print_exc") as printed:
            status, out, _ = self.client.request("POST", "/v2/models/tiny/infer", infer_body([[-1, 1]]))
        self.assertEqual(status, 500)
        self.assertEqual(out["error"], "ValueError: negative values are not pixels")
        printed.assert_called_once()
        status, out, _ = self.client.request("POST", "/v2/models/tiny/infer", infer_body([[12, 1]]))
        self.assertEqual(status, 200, out)
        self.assertEqual(out["outputs"][0]["data"], [26.0])

    def test_concurrent_requests_from_8_threads_are_all_answered(self):
        results, lock = [], threading.Lock()

        def client(k):
            c = Client(self.server)
            try:
                for i in range(25):
                    status, out, _ = c.request("POST", "/v2/models/tiny/infer", infer_body([[k, i]]))
                    with lock:
                        results.append((status, out["outputs"][0]["data"] if status == 200 else out, (k + i) * 2.0))
            finally:
                c.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(results), 200)
        for status, data, expected in results:
            self.assertEqual(status, 200, data)
            self.assertEqual(data, [expected])

    def test_a_chunked_body_is_read(self):
        body = json.dumps(infer_body([[1, 2]])).encode()
        c = self.client.conn
        c.putrequest("POST", "/v2/models/tiny/infer")
        c.putheader("Authorization", f"Bearer {TOKEN}")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        r = c.getresponse()
        self.assertEqual(r.status, 200, r.read())
        r.read()


class LimitsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mlc-serve-test-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_a_body_over_the_cap_is_413_and_the_server_goes_on(self):
        server = start(self.dir, DECLARED, max_body=1024)
        try:
            c = Client(server)
            status, out, r = c.request("POST", "/v2/models/tiny/infer", b"{" + b" " * 2000 + b"}")
            self.assertEqual(status, 413)
            self.assertIn("1024", out["error"])
            self.assertEqual(r.getheader("Connection"), "close")
            c.close()
            c = Client(server)
            self.assertEqual(c.request("POST", "/v2/models/tiny/infer", infer_body([[1, 2]]))[0], 200)
            c.close()
        finally:
            server.shutdown()
            server.server_close()

    def test_not_ready_until_load_returned(self):
        server = start(self.dir, DECLARED, load=False)
        try:
            c = Client(server)
            self.assertEqual(c.request("GET", "/v2/health/live")[0], 200)
            self.assertEqual(c.request("GET", "/v2/health/ready")[0], 503)
            self.assertEqual(c.request("GET", "/v2/models/tiny/ready")[0], 503)
            self.assertEqual(c.request("POST", "/v2/models/tiny/infer", infer_body([[1, 2]]))[0], 503)
            server.model.load()
            self.assertEqual(c.request("GET", "/v2/health/ready")[0], 200)
            self.assertEqual(c.request("POST", "/v2/models/tiny/infer", infer_body([[1, 2]]))[0], 200)
            c.close()
        finally:
            server.shutdown()
            server.server_close()

    def test_a_bare_result_is_one_output_named_output(self):
        server = start(self.dir, BARE, name="bare")
        try:
            c = Client(server)
            body = {"inputs": [{"name": "a", "shape": [3], "datatype": "INT32", "data": [1, 2, 3]}]}
            status, out, _ = c.request("POST", "/v2/models/bare/infer", body)
            self.assertEqual(status, 200, out)
            self.assertEqual(out["outputs"], [{"name": "output", "shape": [1], "datatype": "INT64", "data": [3]}])
            meta = c.request("GET", "/v2/models/bare")[1]
            self.assertNotIn("inputs", meta)
            c.close()
        finally:
            server.shutdown()
            server.server_close()

    @unittest.skipUnless(importlib.util.find_spec("numpy"), "numpy is not installed for this python3")
    def test_array_outputs_keep_their_shape_and_dtype(self):
        import numpy as np

        t = serve.to_tensor("p", np.arange(6, dtype=np.float32).reshape(2, 3))
        self.assertEqual(t, {"name": "p", "shape": [2, 3], "datatype": "FP32", "data": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})

    def test_refuses_to_start_without_a_token_unless_told_auth_is_elsewhere(self):
        with self.assertRaises(SystemExit) as e:
            serve.token_from_env({})
        self.assertIn("MLC_SERVE_TOKEN", str(e.exception))
        self.assertIsNone(serve.token_from_env({"MLC_SERVE_AUTH": "none"}))
        self.assertEqual(serve.token_from_env({"MLC_SERVE_TOKEN": "abc"}), "abc")


class StopTest(unittest.TestCase):
    def test_sigterm_stops_the_server_at_once(self):
        # As PID 1 in a container a process that does not handle SIGTERM ignores it; here the default would end it
        # anyway, so the test asserts the handler's own exit: serve_forever returns and main() ends with status 0.
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder, True)
        with open(os.path.join(folder, "predict.py"), "w") as f:
            f.write(BARE)
        os.mkdir(os.path.join(folder, "model"))
        env = {**os.environ, "MLC_SERVE_TOKEN": TOKEN}
        args = [sys.executable, SERVE, "--port", "0", "--predict", os.path.join(folder, "predict.py"), "--model-dir", os.path.join(folder, "model")]
        proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.kill)
        deadline = time.monotonic() + 20
        for line in proc.stderr:
            if "ready" in line or time.monotonic() > deadline:
                break
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - started, 5)


if __name__ == "__main__":
    sys.exit(unittest.main())
