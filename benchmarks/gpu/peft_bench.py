"""What Python users get for the same job as core_bench: transformers + PEFT (and
bitsandbytes for QLoRA, when installed) training LoRA r=8 on q_lin and v_lin of the
checkpoint core_bench wrote, batch 16 x 128 tokens, AdamW with clipping at 1.0,
fp32 and bf16 autocast, on the GPU.

    python3 benchmarks/gpu/peft_bench.py <checkpoint dir> [timed steps = 20]

Prints a markdown table with the same columns as core_bench: ms per step (median of
the timed steps after 2 warm-up steps), samples/s, bytes held by the base linear
weights, and torch.cuda.max_memory_allocated (the statistic core_bench reads).
"""
import statistics
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForSequenceClassification

BATCH, SEQ, WARMUP = 16, 128, 2
BLOCK_LINEARS = ("q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2")


def batches(count, device):
    generator = torch.Generator().manual_seed(1)
    for _ in range(count):
        ids = torch.randint(1000, 30522, (BATCH, SEQ), generator=generator)
        ids[:, 0], ids[:, -1] = 101, 102
        labels = torch.randint(0, 2, (BATCH,), generator=generator)
        yield ids.to(device), torch.ones_like(ids).to(device), labels.to(device)


def base_linear_bytes(model):
    total_bytes, params = 0, 0
    for name, module in model.named_modules():
        if name.split(".")[-1] in BLOCK_LINEARS:
            weight = module.base_layer.weight if hasattr(module, "base_layer") else module.weight
            quant_state = getattr(weight, "quant_state", None)
            total_bytes += weight.numel() * weight.element_size()
            if quant_state is not None:
                params += quant_state.shape.numel()
                total_bytes += quant_state.absmax.numel() * quant_state.absmax.element_size()
                if getattr(quant_state, "state2", None) is not None:
                    total_bytes += quant_state.state2.absmax.numel() * 4
            else:
                params += weight.numel()
    return total_bytes, params


def run(checkpoint, steps, precision, quantize):
    device = torch.device("cuda")
    kwargs = {}
    if quantize:
        from transformers import BitsAndBytesConfig
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if precision == "bf16" else torch.float32,
            llm_int8_skip_modules=["pre_classifier", "classifier"])
        kwargs["device_map"] = {"": 0}
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, **kwargs)
    if not quantize:
        model.to(device)
    config = LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, lora_dropout=0.1,
                        target_modules=["q_lin", "v_lin"], modules_to_save=["pre_classifier", "classifier"])
    model = get_peft_model(model, config)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and ("bias" in n or "LayerNorm" in n)]
    decay = [p for p in trainable if all(p is not q for q in no_decay)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=2e-4)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for ids, mask, labels in batches(WARMUP + steps, device):
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # as core_bench: the step has finished when its loss is read back
        times.append((time.perf_counter() - start) * 1000)
    ms = statistics.median(times[WARMUP:])
    total_bytes, params = base_linear_bytes(model)
    peak = torch.cuda.max_memory_allocated() / 1048576
    name = ("QLoRA NF4 (bitsandbytes)" if quantize else "LoRA") + ", " + precision
    print(f"| PEFT {name} | {ms:.1f} | {BATCH * 1000 / ms:.1f} | {total_bytes / 1048576:.1f} | "
          f"{total_bytes / max(params, 1):.3f} | {peak:.0f} |", flush=True)
    del model, optimizer
    torch.cuda.empty_cache()


def main():
    checkpoint = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    import peft
    import transformers
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
          f"{torch.cuda.get_device_name(0)}; median of {steps} steps after {WARMUP} warm-up\n")
    print("| configuration | ms/step | samples/s | base linear weights MiB | bytes/param | peak device MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for precision in ("fp32", "bf16"):
        run(checkpoint, steps, precision, quantize=False)
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        print("\nQLoRA rows skipped: bitsandbytes is not installed")
        return
    for precision in ("fp32", "bf16"):
        try:
            run(checkpoint, steps, precision, quantize=True)
        except Exception as error:  # a bitsandbytes that cannot run here should not hide the LoRA rows
            print(f"| PEFT QLoRA NF4 (bitsandbytes), {precision} | failed: {type(error).__name__}: {error} | | | | |")


if __name__ == "__main__":
    main()
