#!/usr/bin/env node
// benchmarks/infer: DistilBERT-base forward throughput on CPU, lora-node vs
// eager PyTorch (same libtorch) vs onnxruntime-node. The one entry point
// (`npm run bench:infer`): makes the random checkpoint and the ONNX export if
// they are missing, installs onnxruntime-node into benchmarks/.work if needed,
// then runs every configuration in its own child process, interleaved in
// rounds, and prints/writes a table. See benchmarks/README.md.
//
//   node benchmarks/infer/run.mjs [--rounds 3] [--threads N] [--batch 32] [--seq 128]
//        [--warmup 2] [--reps 5] [--cores env,SKYLAKEX] [--only lora,eager,ort,matmul]
//        [--quick] [--out FILE] [--python /usr/bin/python3] [--wait-idle 900] [--env KEY=VALUE ...]
//   node benchmarks/infer/run.mjs --report benchmarks/results/FILE.md   (re-render from its raw JSON)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  INFER_DIR,
  MODEL_DIR,
  MODEL_SHAPE,
  ONNX_PATH,
  REPO_ROOT,
  RESULTS_DIR,
  WORK_DIR,
  ensureInputs,
  forwardFlops,
  median,
  parseArgs,
} from './common.mjs';
import { ensureModel } from './make-model.mjs';
import { ORT_VERSION, ensureOrt } from './ort.mjs';

const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string' },
    threads: { type: 'string' },
    batch: { type: 'string', default: '32' },
    seq: { type: 'string', default: '128' },
    warmup: { type: 'string' },
    reps: { type: 'string' },
    cores: { type: 'string' },
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    python: { type: 'string', default: process.env.LORA_BENCH_PYTHON ?? '/usr/bin/python3' },
    'wait-idle': { type: 'string', default: '900' },
    env: { type: 'string', multiple: true, default: [] },
    report: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1).filter((l, i, all) => all.slice(0, i + 1).every((x) => x.startsWith('//'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}

const quick = opt.quick;
const cfg = {
  rounds: Number(opt.rounds ?? (quick ? 1 : 3)),
  threads: Number(opt.threads ?? cpus().length),
  batch: Number(opt.batch),
  seq: Number(opt.seq),
  warmup: Number(opt.warmup ?? (quick ? 1 : 2)),
  reps: Number(opt.reps ?? (quick ? 2 : 5)),
  // 'env' keeps OPENBLAS_CORETYPE as this shell has it (or unset); 'unset' removes it
  // (OpenBLAS autodetects; lora-node runs its own core check); anything else is forced.
  cores: (opt.cores ?? (quick ? 'SKYLAKEX' : 'env,SKYLAKEX')).split(',').map((s) => s.trim()).filter(Boolean),
  only: new Set((opt.only ?? 'lora,eager,ort,matmul').split(',').map((s) => s.trim())),
  python: opt.python,
  waitIdleS: Number(opt['wait-idle']),
  // --env KEY=VALUE (repeatable): extra environment for every child, e.g. OMP_WAIT_POLICY=PASSIVE.
  env: Object.fromEntries(
    opt.env.map((kv) => {
      const i = kv.indexOf('=');
      if (i < 1) throw new Error(`Expected KEY=VALUE for --env but received ${JSON.stringify(kv)}`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  ),
};
for (const k of ['rounds', 'threads', 'batch', 'seq', 'warmup', 'reps'])
  if (!Number.isInteger(cfg[k]) || cfg[k] < (k === 'warmup' ? 0 : 1)) throw new Error(`Expected a positive integer for --${k} but received ${cfg[k]}`);

const log = (...a) => console.error('[bench:infer]', ...a);
let envCore = process.env.OPENBLAS_CORETYPE;
// A child during which other processes used more than this many cores is run
// again (up to RETRIES times); if it stays noisy, it is left out of the
// medians whenever that configuration has quieter runs (kept in the raw JSON).
cfg.maxForeign = 0.3;
cfg.retries = quick ? 0 : 2;
const coreLabel = (c) => (c === 'env' ? `env:${envCore ?? 'unset'}` : c === 'unset' ? 'unset' : c);

// ---------- machine facts ----------

function cpuInfo() {
  const text = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const field = (name) => text.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim();
  const flags = new Set((field('flags') ?? '').split(/\s+/));
  const model = field('model name') ?? cpus()[0]?.model ?? 'unknown CPU';
  const family = field('cpu family'), modelNo = field('model'), stepping = field('stepping');
  let short = model.toLowerCase().replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, ' ').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  if (!/\d/.test(short) && family) short += `-f${family}m${modelNo}`;
  return {
    model,
    family,
    modelNo,
    stepping,
    short,
    logicalCpus: cpus().length,
    features: ['avx2', 'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile'].filter((f) => flags.has(f)),
    hypervisor: flags.has('hypervisor'),
  };
}

// /proc/stat "cpu" line: busy and steal jiffies of the whole machine.
function procStat() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: user + nice + system + irq + softirq, steal: steal ?? 0, total: f.reduce((a, b) => a + b, 0) - (f[8] ?? 0) - (f[9] ?? 0), idle: idle + iowait };
}
// CPU time of our reaped children (cutime + cstime), in jiffies.
function childJiffies() {
  const s = readFileSync('/proc/self/stat', 'utf8');
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(rest[13]) + Number(rest[14]); // fields 16, 17 (1-based) after pid and comm
}
const HZ = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function compileJobs() {
  const names = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (['cc1plus', 'cc1', 'nvcc', 'cicc', 'ptxas', 'ld', 'ninja'].includes(comm)) names.push(`${comm}(${pid})`);
    } catch {}
  }
  return names;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function busyCores(ms = 1000) {
  const a = procStat();
  await sleep(ms);
  const b = procStat();
  return ((b.busy - a.busy) / HZ) / (ms / 1000);
}

let idleWaitedS = 0;
// Waits (up to --wait-idle seconds in all) while other processes keep the CPUs busy.
async function waitIdle(what) {
  for (let quiet = 0; ; ) {
    const busy = await busyCores(1000);
    const jobs = compileJobs();
    if (busy < 0.25 && jobs.length === 0) {
      if (++quiet >= 2) return busy; // two quiet seconds in a row
      continue;
    }
    quiet = 0;
    if (idleWaitedS >= cfg.waitIdleS) {
      log(`machine still busy (${busy.toFixed(2)} cores${jobs.length ? `, ${jobs.join(' ')}` : ''}); running ${what} anyway`);
      return busy;
    }
    if (idleWaitedS % 30 === 0)
      log(`waiting for the machine to go idle before ${what}: ${busy.toFixed(2)} cores busy${jobs.length ? `, ${jobs.join(' ')}` : ''}`);
    await sleep(4000);
    idleWaitedS += 5;
  }
}

// ---------- children ----------

function childEnv(core) {
  const env = { ...process.env, OMP_NUM_THREADS: String(cfg.threads), OPENBLAS_NUM_THREADS: String(cfg.threads), ...cfg.env };
  if (core === 'unset') delete env.OPENBLAS_CORETYPE;
  else if (core !== 'env') env.OPENBLAS_CORETYPE = core;
  return env;
}

function runChild(cmd, args, env, timeoutMs = 900_000) {
  return new Promise((resolve) => {
    const before = procStat();
    const childBefore = childJiffies();
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallS = (performance.now() - t0) / 1000;
      const after = procStat();
      const own = (childJiffies() - childBefore) / HZ;
      // Other processes' CPU use while this child ran, in cores (noise detector).
      const foreignCores = Math.max(0, ((after.busy - before.busy) / HZ - own) / wallS);
      const stealCores = (after.steal - before.steal) / HZ / wallS;
      const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      let result;
      try {
        result = line ? JSON.parse(line) : undefined;
      } catch {}
      if (!result || code !== 0)
        resolve({ error: `${cmd} exited with ${signal ?? code}: ${(stderr || stdout).trim().split('\n').slice(-6).join(' | ')}`, wallS, foreignCores, stealCores });
      else resolve({ ...result, wallS, foreignCores, stealCores });
    });
  });
}

const common = () => ['--batch', String(cfg.batch), '--seq', String(cfg.seq), '--threads', String(cfg.threads), '--warmup', String(cfg.warmup), '--reps', String(cfg.reps)];

function configurations(inputs) {
  const list = [];
  for (const core of cfg.cores) {
    const env = childEnv(core);
    const tag = coreLabel(core);
    if (cfg.only.has('lora'))
      for (const p of ['fp32', 'bf16', 'auto'])
        list.push({ id: `lora-node ${p} @${tag}`, impl: 'lora-node', precision: p, core: tag, env, cmd: process.execPath, args: [join(INFER_DIR, 'lora.mjs'), '--model', MODEL_DIR, '--inputs', inputs, '--precision', p, ...common()] });
    if (cfg.only.has('eager'))
      for (const p of ['fp32', 'bf16'])
        list.push({ id: `eager ${p} @${tag}`, impl: 'eager', precision: p, core: tag, env, cmd: cfg.python, args: [join(INFER_DIR, 'eager.py'), '--model', MODEL_DIR, '--inputs', inputs, '--precision', p, ...common()] });
    if (cfg.only.has('matmul'))
      list.push({ id: `matmul @${tag}`, impl: 'matmul', core: tag, env, cmd: cfg.python, args: [join(INFER_DIR, 'eager.py'), '--matmul', '--threads', String(cfg.threads), '--reps', quick ? '5' : '10'] });
  }
  if (cfg.only.has('ort'))
    list.push({ id: 'ort fp32', impl: 'ort', precision: 'fp32', core: 'n/a', env: childEnv('env'), cmd: process.execPath, args: [join(INFER_DIR, 'ort.mjs'), '--onnx', ONNX_PATH, '--inputs', inputs, ...common()] });
  return list;
}

// ---------- setup ----------

async function setup() {
  mkdirSync(WORK_DIR, { recursive: true });
  const made = await ensureModel({ log });
  if (made.made) log(`made ${relative(REPO_ROOT, MODEL_DIR)}`);
  if (cfg.only.has('ort')) {
    ensureOrt({ log });
    if (!existsSync(ONNX_PATH)) {
      log(`exporting ONNX to ${relative(REPO_ROOT, ONNX_PATH)}`);
      const r = spawnSync(cfg.python, [join(INFER_DIR, 'eager.py'), '--model', MODEL_DIR, '--export-onnx', ONNX_PATH], { encoding: 'utf8', cwd: REPO_ROOT });
      if (r.status !== 0) throw new Error(`ONNX export failed:\n${r.stderr}`);
    }
  }
  return ensureInputs(cfg.batch, cfg.seq);
}

// ---------- report ----------

const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '—');

function summarize(results) {
  const flops = forwardFlops(cfg.batch, cfg.seq);
  const byId = new Map();
  for (const r of results) {
    if (!byId.has(r.id)) byId.set(r.id, []);
    byId.get(r.id).push(r);
  }
  const rows = [];
  const matmul = new Map();
  for (const [id, runs] of byId) {
    const all = runs.filter((r) => !r.error);
    const quiet = all.filter((r) => (r.foreignCores ?? 0) <= cfg.maxForeign);
    const ok = quiet.length ? quiet : all;
    const first = runs[0];
    if (first.impl === 'matmul') {
      matmul.set(first.core, {
        fp32: median(ok.map((r) => r.fp32GflopS)),
        bf16: median(ok.map((r) => r.bf16GflopS)),
        blasCore: ok[0]?.runtime?.blasCore,
        fp32Err: Math.max(...ok.map((r) => r.fp32MaxAbsErrVsF64)),
      });
      continue;
    }
    const times = ok.flatMap((r) => r.timesMs);
    const roundMedians = ok.map((r) => r.medianMs);
    const ms = median(times);
    rows.push({
      id,
      impl: first.impl,
      precision: first.precision,
      resolved: ok[0]?.resolvedPrecision ?? first.precision,
      core: first.core,
      blasCore: ok[0]?.runtime?.blasCore ?? (first.impl === 'ort' ? 'MLAS' : undefined),
      ms,
      seqPerS: (cfg.batch * 1000) / ms,
      gflops: flops / (ms / 1000) / 1e9,
      spread: roundMedians.length ? [Math.min(...roundMedians), Math.max(...roundMedians)] : [NaN, NaN],
      n: times.length,
      errors: runs.filter((r) => r.error).map((r) => r.error),
      maxForeign: Math.max(0, ...ok.map((r) => r.foreignCores ?? 0)),
      dropped: all.length - ok.length,
      maxSteal: Math.max(0, ...ok.map((r) => r.stealCores ?? 0)),
      logits: ok[0]?.logits,
      runtime: ok[0]?.runtime,
    });
  }
  const find = (impl, p, core) => rows.find((r) => r.impl === impl && r.precision === p && (core === undefined || r.core === core));
  const fastCore = cfg.cores.map(coreLabel).find((c) => /skylakex|cooperlake|sapphire/i.test(c)) ?? coreLabel(cfg.cores.at(-1));
  const ort = find('ort', 'fp32');
  for (const r of rows) {
    const ref = find('eager', 'fp32', r.impl === 'ort' ? fastCore : r.core);
    r.vsEager = ref ? ref.ms / r.ms : NaN;
    r.vsEagerCore = ref?.core;
    r.vsOrt = ort ? ort.ms / r.ms : NaN;
    const mm = matmul.get(r.core);
    r.matmul = mm ? (r.resolved === 'bf16' ? mm.bf16 : mm.fp32) : NaN;
    if (ref?.logits && r.logits && ref !== r) {
      let maxAbs = 0, maxRef = 0;
      for (let i = 0; i < ref.logits.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(ref.logits[i] - r.logits[i]));
        maxRef = Math.max(maxRef, Math.abs(ref.logits[i]));
      }
      r.logitsMaxAbs = maxAbs;
      r.logitsRel = maxAbs / maxRef;
    }
  }
  const targets = [];
  for (const core of cfg.cores.map(coreLabel)) {
    const t = (name, a, b, goal) => {
      if (!a || !b) return;
      const x = b.ms / a.ms;
      targets.push({ name, core, ratio: x, goal, pass: x >= goal, primary: core === fastCore });
    };
    t('lora-node fp32 vs eager fp32', find('lora-node', 'fp32', core), find('eager', 'fp32', core), 1.0);
    t('lora-node bf16 vs eager bf16', find('lora-node', 'bf16', core), find('eager', 'bf16', core), 1.2);
    t("lora-node 'auto' vs onnxruntime-node fp32", find('lora-node', 'auto', core), ort, 1.5);
  }
  return { rows, matmul, targets, flops, fastCore };
}

function report(summary, meta) {
  const { rows, matmul, targets, flops } = summary;
  const L = [];
  L.push(`# benchmarks/infer — DistilBERT-base forward, batch ${cfg.batch} × seq ${cfg.seq}, CPU`);
  L.push('');
  L.push(`- Date: ${meta.date}`);
  L.push(`- CPU: ${meta.cpu.model} (family ${meta.cpu.family}, model ${meta.cpu.modelNo}, stepping ${meta.cpu.stepping}${meta.cpu.hypervisor ? ', VM' : ''}), ${meta.cpu.logicalCpus} logical CPUs; ${meta.cpu.features.join(', ')}${meta.cpu.features.includes('amx_bf16') ? '' : ' (no AMX)'}`);
  L.push(`- Threads: ${cfg.threads} (lora-node \`threads\`, torch.set_num_threads, ORT intraOpNumThreads; OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = ${cfg.threads} in every child)${Object.keys(cfg.env).length ? `; extra env: ${Object.entries(cfg.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`);
  L.push(`- OpenBLAS core variants: ${[...matmul.entries()].map(([c, m]) => `\`${c}\` → ${m.blasCore ?? '?'}`).join(', ') || cfg.cores.map(coreLabel).join(', ')} (the shell's OPENBLAS_CORETYPE: ${envCore ?? 'unset'})`);
  L.push(`- Software: libtorch ${meta.torch ?? '?'} (Debian python3-torch for eager; lora-node via ${meta.loraApi ?? '?'}), onnxruntime-node ${ORT_VERSION} (ONNX opset 14 from torch.onnx.export), Node ${meta.node ?? process.version}, ${meta.git}`);
  L.push(`- Method: ${cfg.rounds} round(s); in each, every configuration runs in a fresh child process (same env apart from OPENBLAS_CORETYPE), order rotated per round; ${cfg.warmup} warm-up + ${cfg.reps} timed forwards per process. ms/batch is the median of all ${cfg.rounds * cfg.reps} timed forwards; "round medians" shows the spread. A process during which other processes used > ${cfg.maxForeign} cores was run again (up to ${cfg.retries} times) and, if still noisy, left out when quieter rounds exist.`);
  L.push(`- Forward FLOPs at B=${cfg.batch}, T=${cfg.seq}: ${(flops / 1e9).toFixed(1)} GFLOP (linears 2·B·T·(4C²+2CF)·L + attention 4·B·H·T²·D·L; C=${MODEL_SHAPE.dim}, F=${MODEL_SHAPE.hidden}, L=${MODEL_SHAPE.layers}, H=${MODEL_SHAPE.heads}, D=${MODEL_SHAPE.dim / MODEL_SHAPE.heads})`);
  L.push(`- Machine noise: other processes used up to ${fmt(Math.max(...rows.map((r) => r.maxForeign)), 2)} cores while a counted configuration ran (steal up to ${fmt(Math.max(...rows.map((r) => r.maxSteal)), 2)} cores)${meta.compileJobs.length ? `; compile jobs seen: ${meta.compileJobs.join(', ')}` : ''}${meta.idleWaitedS ? `; waited ${meta.idleWaitedS} s for idle` : ''}`);
  L.push('');
  L.push('| configuration | precision | OpenBLAS core | seq/s | ms/batch (median) | round medians (ms) | GFLOP/s | of matmul rate | vs eager fp32 | vs ort fp32 | max abs Δlogits vs eager fp32 | other load (cores) |');
  L.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const prec = r.precision === r.resolved ? r.precision : `${r.precision}→${r.resolved}`;
    const core = r.core === 'n/a' ? 'n/a (MLAS)' : `${r.core}${r.blasCore && !r.core.includes(r.blasCore) ? ` (${r.blasCore})` : ''}`;
    const eff = Number.isFinite(r.matmul) ? `${Math.round((100 * r.gflops) / r.matmul)}% of ${Math.round(r.matmul)}` : '—';
    const vsE = Number.isFinite(r.vsEager) ? `${r.vsEager.toFixed(2)}x${r.impl === 'ort' ? ` (@${r.vsEagerCore})` : ''}` : '—';
    const err = `${r.errors.length ? ` ⚠ ${r.errors.length} failed` : ''}${r.dropped ? ` (${r.dropped} noisy run${r.dropped > 1 ? 's' : ''} left out)` : ''}`;
    L.push(`| ${r.impl}${err} | ${prec} | ${core} | ${fmt(r.seqPerS)} | ${fmt(r.ms, 0)} | ${fmt(r.spread[0], 0)}–${fmt(r.spread[1], 0)} | ${fmt(r.gflops, 0)} | ${eff} | ${vsE} | ${Number.isFinite(r.vsOrt) ? `${r.vsOrt.toFixed(2)}x` : '—'} | ${r.logitsMaxAbs === undefined ? '—' : r.logitsMaxAbs.toExponential(1)} | ${fmt(r.maxForeign, 2)} |`);
  }
  L.push('');
  if (matmul.size) {
    L.push(`Measured matmul rate (eager.py --matmul, [4096×768]·[768×3072], ${cfg.threads} threads, median):`);
    L.push('');
    L.push('| OpenBLAS core | fp32 at::mm (OpenBLAS) GFLOP/s | fp32 max abs err vs float64 | bf16 autocast linear (oneDNN) GFLOP/s |');
    L.push('|---|---:|---:|---:|');
    for (const [core, m] of matmul) L.push(`| ${core} (${m.blasCore ?? '?'}) | ${fmt(m.fp32, 0)} | ${fmt(m.fp32Err, 6)} | ${fmt(m.bf16, 0)} |`);
    L.push('');
  }
  if (targets.length) {
    L.push("Targets (issue 2; the fp32 and bf16 targets are stated for the fast OpenBLAS core, marked ★):");
    L.push('');
    L.push('| target | OpenBLAS core | ratio | goal | result |');
    L.push('|---|---|---:|---:|---|');
    for (const t of targets) L.push(`| ${t.name} | ${t.core}${t.primary ? ' ★' : ''} | ${t.ratio.toFixed(2)}x | ≥ ${t.goal.toFixed(1)}x | ${t.pass ? 'PASS' : 'FAIL'} |`);
    L.push('');
  }
  const failed = rows.filter((r) => r.errors.length);
  for (const r of failed) L.push(`- ${r.id} failed: ${r.errors[0]}`);
  return L.join('\n');
}

function gitDescribe() {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'native', 'lib', 'CMakeLists.txt'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim();
  return `git ${head || '?'}${dirty ? ' + uncommitted changes in native/ or lib/' : ''}`;
}

function resultPath(cpu, date) {
  if (opt.out) return opt.out;
  const dir = quick ? join(WORK_DIR, 'results') : RESULTS_DIR;
  mkdirSync(dir, { recursive: true });
  let path = join(dir, `infer-${date}-${cpu.short}.md`);
  for (let i = 2; existsSync(path); i++) path = join(dir, `infer-${date}-${cpu.short}-${i}.md`);
  return path;
}

// ---------- main ----------

// notes: a hand-written "## Notes" section kept between the table and the raw JSON.
function render(table, raw, notes = '') {
  return `${table}\n${notes ? `\n${notes.trim()}\n` : ''}\n<details><summary>Raw results (JSON)</summary>\n\n\`\`\`json\n${JSON.stringify(raw, null, 1)}\n\`\`\`\n</details>\n`;
}

// --report FILE: re-renders a results file from its own raw JSON (same data, current table code).
if (opt.report) {
  const text = readFileSync(opt.report, 'utf8');
  const block = text.match(/```json\n([\s\S]*?)\n```/);
  if (!block) throw new Error(`${opt.report} has no raw JSON block`);
  const raw = JSON.parse(block[1]);
  Object.assign(cfg, raw.config, { only: new Set(raw.config.only) });
  envCore = raw.meta.envCore ?? raw.results.map((r) => /^env:(.*)$/.exec(r.core ?? '')?.[1]).find(Boolean);
  if (envCore === 'unset') envCore = undefined;
  const table = report(summarize(raw.results), raw.meta);
  console.log(table);
  const notes = text.match(/^## Notes\n[\s\S]*?(?=\n<details>)/m)?.[0] ?? '';
  writeFileSync(opt.report, render(table, raw, notes));
  process.exit(0);
}

const cpu = cpuInfo();
const inputs = await setup();
const configs = configurations(inputs);
const compileSeen = new Set();
log(`${configs.length} configurations × ${cfg.rounds} rounds, ${cfg.threads} threads, batch ${cfg.batch} × seq ${cfg.seq}, cores ${cfg.cores.map(coreLabel).join(', ')}`);
const results = [];
const t0 = performance.now();
for (let round = 0; round < cfg.rounds; round++) {
  const k = (round * Math.max(1, Math.floor(configs.length / cfg.rounds))) % configs.length;
  const order = [...configs.slice(k), ...configs.slice(0, k)];
  for (const c of order) {
    const { env, cmd, args, ...meta } = c;
    let r, idleBefore;
    const discarded = [];
    // A run during which other processes took more than MAX_FOREIGN cores is
    // redone (after waiting for idle), up to RETRIES times; the discarded runs
    // stay in the raw JSON.
    for (let attempt = 0; ; attempt++) {
      idleBefore = await waitIdle(c.id);
      for (const j of compileJobs()) compileSeen.add(j.replace(/\(.*/, ''));
      r = await runChild(cmd, args, env);
      if (r.error || r.foreignCores <= cfg.maxForeign || attempt >= cfg.retries || idleWaitedS >= cfg.waitIdleS) break;
      log(`round ${round + 1}/${cfg.rounds} ${c.id}: other processes used ${r.foreignCores.toFixed(2)} cores meanwhile; running it again`);
      discarded.push({ medianMs: r.medianMs, timesMs: r.timesMs, foreignCores: r.foreignCores });
    }
    results.push({ ...meta, round, busyBefore: idleBefore, ...r, ...(discarded.length ? { discarded } : {}) });
    const shown = r.error
      ? `FAILED ${r.error}`
      : c.impl === 'matmul'
        ? `fp32 ${fmt(r.fp32GflopS, 0)} / bf16 ${fmt(r.bf16GflopS, 0)} GFLOP/s (${r.runtime?.blasCore})`
        : `${fmt(r.medianMs, 0)} ms/batch [${r.timesMs.map((x) => x.toFixed(0)).join(' ')}]${r.resolvedPrecision !== c.precision ? ` (${r.resolvedPrecision})` : ''}`;
    log(`round ${round + 1}/${cfg.rounds} ${c.id}: ${shown}${r.foreignCores > 0.25 ? ` — other load ${r.foreignCores.toFixed(2)} cores` : ''}`);
  }
}
const summary = summarize(results);
const lora = results.find((r) => r.impl === 'lora-node' && !r.error);
const meta = {
  date: new Date().toISOString().slice(0, 10),
  cpu,
  torch: results.find((r) => r.impl === 'eager' && !r.error)?.runtime?.torch ?? lora?.runtime?.torch,
  loraApi: lora?.runtime?.api,
  git: gitDescribe(),
  compileJobs: [...compileSeen],
  idleWaitedS,
  envCore: envCore ?? 'unset',
  node: process.version,
  wallS: (performance.now() - t0) / 1000,
};
const table = report(summary, meta);
console.log(table);
const path = resultPath(cpu, meta.date);
const raw = { config: { ...cfg, only: [...cfg.only] }, meta, results };
writeFileSync(path, render(table, raw));
console.log(`\nwritten to ${relative(process.cwd(), path)} (${meta.wallS.toFixed(0)} s)`);
