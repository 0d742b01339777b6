import torch, time, traceback
import torch.nn.functional as F
from corpusforge.trainer.model import HybridLM, Layer, get_config
dev = torch.device("cuda")
idx = torch.randint(0, 512, (2, 257), device=dev)
def check(name, fn):
    try:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = fn(idx[:, :-1], idx[:, 1:])
        if isinstance(out, dict): out = out["loss"]
        print(name, out.requires_grad, flush=True)
    except Exception:
        traceback.print_exc()
for tie in (True, False):
    for pattern in ("MEM*EM", "M", "E", "*-"):
        cfg = get_config("proxy-10m", vocab_size=512, tie_embeddings=tie, pattern=pattern)
        m = HybridLM(cfg).to(dev)
        torch._dynamo.reset()
        check(f"tie={tie} pattern={pattern}", torch.compile(m))
cfg = get_config("proxy-10m", vocab_size=512, tie_embeddings=False)
m = HybridLM(cfg).to(dev)
def manual(i, t):
    x = m.embed(i)
    for layer in m.layers:
        x = layer(x, [])
    logits = m.lm_head(m.norm(x))
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), t.reshape(-1))
torch._dynamo.reset()
check("manual", torch.compile(manual))
