"""templates/model/predict_batch.py against a tiny predict.py, run as `mlc predict` runs it (python3 -m unittest)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "..", "..", "templates", "model", "predict_batch.py")

# Doubles each row's x, records the batch sizes it saw beside the model, raises on a negative value.
PREDICT = '''
import os
def load(model_dir):
    return {"dir": model_dir}

def predict(model, inputs):
    with open(os.path.join(model["dir"], "batches.txt"), "a") as f:
        f.write("%d\\n" % len(inputs[sorted(inputs)[0]]))
    if "path" in inputs:
        return {"size": [os.path.getsize(p) for p in inputs["path"]]}
    if any(v < 0 for v in inputs["x"]):
        raise ValueError("negative x in the batch")
    return {"double": [2 * v for v in inputs["x"]], "label": ["r%s" % v for v in inputs["x"]]}
'''


class PredictBatchTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.out = os.path.join(self.dir, "out")
        self.model = os.path.join(self.dir, "model")
        os.mkdir(self.out)
        os.mkdir(self.model)
        self.predict = os.path.join(self.dir, "predict.py")
        with open(self.predict, "w") as f:
            f.write(PREDICT)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def run_shard(self, path, fmt, start, end, shard=0, batch=256):
        return subprocess.run(
            [sys.executable, RUNNER, "--input", path, "--format", fmt, "--start", str(start), "--end", str(end),
             "--shard", str(shard), "--out", self.out, "--batch", str(batch), "--predict", self.predict,
             "--model-dir", self.model],
            capture_output=True, text=True, timeout=60)

    def lines(self, shard=0):
        with open(os.path.join(self.out, f"predictions.{shard}.jsonl")) as f:
            return [json.loads(line) for line in f]

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def batches(self):
        with open(os.path.join(self.model, "batches.txt")) as f:
            return [int(n) for n in f.read().split()]

    def test_jsonl_rows_of_the_shard_only_in_batches_skipping_blank_lines(self):
        path = self.write("rows.jsonl", "".join(json.dumps({"x": i}) + "\n" + ("  \n" if i % 3 == 0 else "") for i in range(10)))
        r = self.run_shard(path, "jsonl", 3, 8, shard=1, batch=2)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = self.lines(1)
        self.assertEqual([g["row"] for g in got], [3, 4, 5, 6, 7])
        self.assertEqual([g["key"] for g in got], [3, 4, 5, 6, 7])
        self.assertEqual([g["outputs"] for g in got], [{"double": 2 * i, "label": f"r{i}"} for i in range(3, 8)])
        self.assertEqual(self.batches(), [2, 2, 1])
        self.assertFalse([n for n in os.listdir(self.out) if n.startswith(".")])

    def test_csv_cells_are_json_values_where_they_parse(self):
        path = self.write("rows.csv", 'x,note\n1,"a, b"\n\n2,plain\n"3","multi\nline"\n')
        r = self.run_shard(path, "csv", 0, 3)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([g["outputs"]["double"] for g in self.lines()], [2, 4, 6])

    def test_a_folder_gives_one_row_per_regular_file_in_byte_order(self):
        folder = os.path.join(self.dir, "files")
        os.mkdir(folder)
        for name, size in (("b.bin", 2), ("a.bin", 5), (".hidden", 1), ("c.bin", 7)):
            with open(os.path.join(folder, name), "wb") as f:
                f.write(b"x" * size)
        os.mkdir(os.path.join(folder, "sub"))
        os.symlink("/etc/passwd", os.path.join(folder, "link"))
        r = self.run_shard(folder, "files", 1, 3)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([(g["row"], g["key"], g["outputs"]["size"]) for g in self.lines()], [(1, "b.bin", 2), (2, "c.bin", 7)])

    def test_a_predict_that_raises_exits_1_with_the_error_and_leaves_no_output(self):
        path = self.write("rows.jsonl", "".join(json.dumps({"x": v}) + "\n" for v in (1, 2, -3, 4)))
        r = self.run_shard(path, "jsonl", 0, 4, batch=2)
        self.assertEqual(r.returncode, 1)
        self.assertIn("negative x in the batch", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.out, "predictions.0.jsonl")))

    def test_an_output_of_the_wrong_length_is_an_error(self):
        with open(self.predict, "a") as f:
            f.write("\n_p = predict\ndef predict(model, inputs):\n    return {'double': _p(model, inputs)['double'][:-1]}\n")
        path = self.write("rows.jsonl", '{"x": 1}\n{"x": 2}\n')
        r = self.run_shard(path, "jsonl", 0, 2)
        self.assertEqual(r.returncode, 1)
        self.assertIn("has 1 entries for a batch of 2 rows", r.stderr)

    def test_fewer_rows_than_the_shard_was_given_is_an_error(self):
        path = self.write("rows.jsonl", '{"x": 1}\n')
        r = self.run_shard(path, "jsonl", 0, 2)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("changed since it was counted", r.stderr)
        self.assertFalse(os.listdir(self.out))


if __name__ == "__main__":
    unittest.main()
