# The shared stream (clean rows 0..2999, then corrupted rows 3000..5999) projected to D = 64 by a fixed
# Gaussian matrix / 8: a data folder for eval, a class folder, and per-partition input lines
# (event i to partition i mod 4, ts = i seconds).
import numpy as np, json, os
import sys
root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
out = sys.argv[2] if len(sys.argv) > 2 else "/tmp/shared-daemons"
D, K = 1024, 64
rng = np.random.default_rng(0x5EED)
M = rng.standard_normal((D, K)) / 8
def load(name):
    x = np.fromfile(f"{root}/{name}/images.f32", dtype="<f4").reshape(-1, D)
    y = [int(l) for l in open(f"{root}/{name}/labels.txt")]
    return x, y
xc, yc = load("fmnist_opennsfw_clean")
xk, yk = load("fmnist_opennsfw_corrupted")
x = np.concatenate([xc[:3000], xk[3000:6000]]) @ M
y = yc[:3000] + yk[3000:6000]
names = [l.strip() for l in open(f"{root}/fmnist_opennsfw_clean/classes.txt") if l.strip()]
t = (np.fromfile(f"{root}/fmnist_opennsfw_clean/text.f32", dtype="<f4").reshape(-1, D) @ M).astype("<f4")
os.makedirs(f"{out}/data", exist_ok=True)
x.astype("<f4").tofile(f"{out}/data/images.f32")
open(f"{out}/data/labels.txt", "w").write("\n".join(map(str, y)) + "\n")
open(f"{out}/data/classes.txt", "w").write("\n".join(names) + "\n")
t.tofile(f"{out}/data/text.f32")
for p in range(4):
    with open(f"{out}/p{p}.txt", "w") as f:
        for i in range(p, 6000, 4):
            emb = ",".join(repr(float(v)) for v in x[i].astype("<f4"))
            f.write(f"e{i}|" + json.dumps({"id": f"e{i}", "embedding": None, "label": names[y[i]], "ts": 1_700_000_000_000 + i * 1000}).replace("null", "[" + emb + "]") + "\n")
json.dump({"labels": [names[v] for v in y]}, open(f"{out}/truth.json", "w"))
print("ok", x.shape)
