// Masked, weighted task losses (PLE eq. 8-9) and their logit gradients.
// One workgroup per task k:
//   L_k      = sum_r m_r loss(z_r, y_r) / sum_r m_r        (0 when no sample is labelled)
//   dz_r     = w_k m_r loss'(z_r, y_r) / sum_r m_r
// loss is cross-entropy on the logit (kind 0) or squared error (kind 1).
// out[outOff + 2k] = L_k (unweighted), out[outOff + 2k + 1] = sum_r m_r.
// A masked sample's label is never read into the sums, so a missing label may be NaN.

// Lanes and workgroupSum: lanes_plain.wgsl or lanes_subgroup.wgsl.

const WG: u32 = 64u;

struct TaskLoss {
  kind: u32, rows: u32, task: u32, logitOff: u32,
  labelOff: u32, labelRow: u32, maskOff: u32, maskRow: u32,
  dOff: u32, outOff: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<TaskLoss>;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> labels: array<f32>;
@group(0) @binding(4) var<storage, read_write> dLogits: array<f32>;
@group(0) @binding(5) var<storage, read_write> outLoss: array<f32>;

fn sampleLoss(kind: u32, z: f32, y: f32) -> vec2f {
  if (kind == 0u) {
    let loss = max(z, 0.0) - z * y + log(1.0 + exp(-abs(z)));
    return vec2f(loss, 1.0 / (1.0 + exp(-z)) - y);
  }
  let e = z - y;
  return vec2f(e * e, 2.0 * e);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, l: Lanes) {
  let d = descs[wg.x];
  var loss = 0.0;
  var count = 0.0;
  for (var r = l.index; r < d.rows; r += WG) {
    var g = 0.0;
    if (labels[d.maskOff + r * d.maskRow] > 0.0) {
      let sl = sampleLoss(d.kind, logits[d.logitOff + r], labels[d.labelOff + r * d.labelRow]);
      loss += sl.x;
      g = sl.y;
      count += 1.0;
    }
    dLogits[d.dOff + r] = g;
  }
  let sums = workgroupSum(vec2f(loss, count), l);
  let total = sums.y;
  let scale = select(0.0, weights[d.task] / total, total > 0.0);
  for (var r = l.index; r < d.rows; r += WG) {
    dLogits[d.dOff + r] *= scale;
  }
  if (l.index == 0u) {
    outLoss[d.outOff + 2u * d.task] = select(0.0, sums.x / total, total > 0.0);
    outLoss[d.outOff + 2u * d.task + 1u] = total;
  }
}
