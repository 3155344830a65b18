"""`mlc predict`'s runner: applies the project's predict.py to rows [start, end) of a data set, in batches.

Standard library only, like serve.py beside it. It imports predict.py, which gives

    load(model_dir)          -> model        (called once)
    predict(model, inputs)   -> outputs      (inputs: {name: a list with one value per row of the batch})

and returns {name: data with one entry per row} (lists, or anything with .tolist()), or the data alone for a single
output named "output". The input is one of three kinds, and a row is numbered the same way `mlc predict` counts:

    jsonl   one JSON object per non-blank line: {"pixels": [...]} is one row whose input "pixels" is that list;
            the key is the row's number
    csv     a header of input names, then one row per record; a cell that parses as JSON (3, 0.5, [1, 2]) is that
            value, any other cell is the string; the key is the row's number
    files   each regular file at the top of a folder, in byte order of the names (no dot files, no links, no
            subfolders), is one row {"path": "/the/file/in/the/container"}; predict reads it itself; the key is
            the file's name

It writes OUT/predictions.<shard>.jsonl, one line per row in order: {"row": i, "key": k, "outputs": {name: value}},
under a temporary name first and renamed once every row is there, so a file by that name is always complete. A
predict that raises, or returns something else than one value per row, ends it with exit 1 and the reason on stderr.
"""
import argparse
import csv
import importlib.util
import json
import math
import os
import stat
import sys
import traceback

BLANK = b" \t\r\n"


def import_file(path):
    spec = importlib.util.spec_from_file_location("predict", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    sys.modules["predict"] = module
    spec.loader.exec_module(module)
    return module


def jsonl_rows(path, start, end):
    index = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip(BLANK):
                continue
            if index >= end:
                return
            if index >= start:
                try:
                    row = json.loads(line)
                except ValueError as e:
                    raise SystemExit(f"row {index} of the input is not JSON: {e}")
                if not isinstance(row, dict):
                    raise SystemExit(f"row {index} of the input is not a JSON object of named inputs")
                yield index, index, row
            index += 1


def cell(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def csv_rows(path, start, end):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            return
        index = 0
        for record in reader:
            if not record:
                continue
            if index >= end:
                return
            if index >= start:
                if len(record) != len(header):
                    raise SystemExit(f"row {index} of the input has {len(record)} cells and the header {len(header)}")
                yield index, index, {name: cell(value) for name, value in zip(header, record)}
            index += 1


def file_names(folder):
    names = []
    for name in os.listdir(os.fsencode(folder)):
        if name.startswith(b"."):
            continue
        st = os.lstat(os.path.join(os.fsencode(folder), name))
        if stat.S_ISREG(st.st_mode):
            names.append(name)
    return sorted(names)


def file_rows(folder, start, end):
    for index, name in enumerate(file_names(folder)[start:end], start):
        text = os.fsdecode(name)
        yield index, text, {"path": os.path.join(folder, text)}


def batches(rows, size):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def as_list(value):
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value) if isinstance(value, (list, tuple)) else value


def finite(value, where):
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"predict returned {value} for {where}, which JSON cannot carry")
    if isinstance(value, list):
        for v in value:
            finite(v, where)
    return value


def per_row(outputs, count, first):
    """One {name: value} per row of the batch, from predict's {name: data with one entry per row}."""
    if not isinstance(outputs, dict):
        outputs = {"output": outputs}
    columns = {}
    for name, data in outputs.items():
        data = as_list(data)
        if not isinstance(data, list) or len(data) != count:
            got = len(data) if isinstance(data, list) else "no list"
            raise ValueError(f"predict's output {name!r} has {got} entries for a batch of {count} rows (from row {first})")
        columns[str(name)] = [as_list(v) for v in data]
    return [{name: finite(values[i], f"row {first + i}") for name, values in columns.items()} for i in range(count)]


def run(args):
    if args.format == "jsonl":
        rows = jsonl_rows(args.input, args.start, args.end)
    elif args.format == "csv":
        rows = csv_rows(args.input, args.start, args.end)
    else:
        rows = file_rows(args.input, args.start, args.end)
    module = import_file(args.predict)
    model = module.load(args.model_dir)
    final = os.path.join(args.out, f"predictions.{args.shard}.jsonl")
    temp = os.path.join(args.out, f".predictions.{args.shard}.jsonl.partial")
    written = 0
    with open(temp, "w", encoding="utf-8") as out:
        for batch in batches(rows, args.batch):
            names = sorted({name for _, _, row in batch for name in row})
            inputs = {name: [row.get(name) for _, _, row in batch] for name in names}
            outputs = module.predict(model, inputs)
            for (index, key, _), values in zip(batch, per_row(outputs, len(batch), batch[0][0])):
                out.write(json.dumps({"row": index, "key": key, "outputs": values}, allow_nan=False) + "\n")
            written += len(batch)
            print(f"shard {args.shard}: {written} of {args.end - args.start} rows", file=sys.stderr, flush=True)
        out.flush()
        os.fsync(out.fileno())
    if written != args.end - args.start:
        os.unlink(temp)
        raise SystemExit(f"the input has {written} of the rows {args.start}-{args.end - 1} this shard was given: it changed since it was counted")
    os.replace(temp, final)


def main(argv=None):
    p = argparse.ArgumentParser(description="Apply predict.py to rows [start, end) of a data set.")
    p.add_argument("--input", required=True)
    p.add_argument("--format", choices=("jsonl", "csv", "files"), required=True)
    p.add_argument("--start", type=int, required=True)
    p.add_argument("--end", type=int, required=True)
    p.add_argument("--shard", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--predict", default="/opt/mlc/predict.py")
    p.add_argument("--model-dir", default="/opt/mlc/model")
    args = p.parse_args(argv)
    if not (0 <= args.start <= args.end) or args.batch < 1:
        p.error("--start, --end and --batch want 0 <= start <= end and a batch of at least 1")
    try:
        run(args)
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        print(f"shard {args.shard} failed: {sys.exc_info()[1]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
