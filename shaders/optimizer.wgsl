// One fused optimizer step over the flat parameter buffer, with its gradient
// and moment buffers in the same layout.
//   kind 0: SGD with momentum (PyTorch form: v = mu v + g; p -= lr v)
//   kind 1: Adam (weight decay added to the gradient, L2)
//   kind 2: AdamW (decoupled weight decay: p -= lr wd p)
// Every gradient is first multiplied by gradScale and by clip[0], the clipping
// scale grad_norm.wgsl computed on the GPU for this step.
// Weight decay applies to elements below decayEnd only: the uncertainty
// weighting's log-variances, last in the buffer, never decay.
// bc1, bc2 are Adam's bias corrections 1 - beta^t, and omb1, omb2 are 1 - beta1
// and 1 - beta2, all computed on the host in float64: 1 - beta2 taken in f32 from
// an f32 beta2 = 0.999 would be off by 1.3e-5 relative.

const WG: u32 = 256u;

struct Optimizer {
  kind: u32, count: u32, lr: f32, beta1: f32,
  beta2: f32, eps: f32, weightDecay: f32, bc1: f32,
  bc2: f32, momentum: f32, gradScale: f32, omb1: f32,
  omb2: f32, decayEnd: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<uniform> opt: Optimizer;
@group(0) @binding(1) var<storage, read_write> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;
@group(0) @binding(4) var<storage, read_write> m2: array<f32>;
@group(0) @binding(5) var<storage, read_write> clip: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= opt.count) {
    return;
  }
  var p = params[i];
  var g = grads[i] * (opt.gradScale * clip[0]);
  let wd = select(0.0, opt.weightDecay, i < opt.decayEnd);
  if (opt.kind == 0u) {
    g += wd * p;
    let v = opt.momentum * m1[i] + g;
    m1[i] = v;
    p -= opt.lr * v;
  } else {
    if (opt.kind == 1u) {
      g += wd * p;
    } else {
      p -= opt.lr * wd * p;
    }
    let a = opt.beta1 * m1[i] + opt.omb1 * g;
    let b = opt.beta2 * m2[i] + opt.omb2 * g * g;
    m1[i] = a;
    m2[i] = b;
    p -= opt.lr * (a / opt.bc1) / (sqrt(b / opt.bc2) + opt.eps);
  }
  params[i] = p;
}
