// Uncertainty weighting of the task losses (Kendall et al., CVPR 2018), with a
// learned log-variance s_k per task:  L = sum_k w_k (exp(-s_k) L_k + s_k).
// phase 0 (before the loss kernel): effective[k] = w_k exp(-s_k), the weight task_loss.wgsl applies.
// phase 1 (after it):               dL/ds_k = w_k (1 - exp(-s_k) L_k), into the gradient buffer.

struct Uncertainty {
  phase: u32, tasks: u32, sOff: u32, lossOff: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<Uncertainty>;
@group(0) @binding(1) var<storage, read> base: array<f32>;
@group(0) @binding(2) var<storage, read_write> logVar: array<f32>;
@group(0) @binding(3) var<storage, read_write> effective: array<f32>;
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;
@group(0) @binding(5) var<storage, read_write> dLogVar: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wg: vec3u) {
  let d = descs[wg.x];
  let k = lid.x;
  if (k >= d.tasks) {
    return;
  }
  let inverseVariance = exp(-logVar[d.sOff + k]);
  if (d.phase == 0u) {
    effective[k] = base[k] * inverseVariance;
  } else {
    dLogVar[d.sOff + k] = base[k] * (1.0 - inverseVariance * losses[d.lossOff + 2u * k]);
  }
}
