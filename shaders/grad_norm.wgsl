// Global gradient norm and the clipping scale, in two dispatches, so no CPU wait is needed
// between the backward pass and the optimizer and the sum of squares runs on many workgroups:
//   partials (PARTS workgroups): out[2 + w] = sum of g^2 over workgroup w's share of the gradients
//   total (one workgroup):       out[0] = min(1, maxNorm / ||g||)  (1 when maxNorm is 0: clipping off)
//                                out[1] = ||g||                    (read back with the losses)

// Lanes and workgroupSum: lanes_plain.wgsl or lanes_subgroup.wgsl.

const WG: u32 = 256u;
// Workgroups of the partial sums (the host sets it: src/kernels/grad_norm.ts), at most WG.
const PARTS: u32 = 1u;

struct Clip {
  count: u32, pad0: u32, maxNorm: f32, pad1: f32,
}

// The total reads no gradients: it binds the first two only.
@group(0) @binding(0) var<uniform> clip: Clip;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn partials(@builtin(workgroup_id) wg: vec3u, l: Lanes) {
  // Neighbouring invocations read neighbouring gradients; the workgroups stride over the whole.
  var s = 0.0;
  for (var i = wg.x * WG + l.index; i < clip.count; i += PARTS * WG) {
    let g = grads[i];
    s = fma(g, g, s);
  }
  let total = workgroupSum(vec2f(s, 0.0), l);
  if (l.index == 0u) {
    out[2u + wg.x] = total.x;
  }
}

@compute @workgroup_size(WG, 1, 1)
fn total(l: Lanes) {
  var s = 0.0;
  if (l.index < PARTS) {
    s = out[2u + l.index];
  }
  let sum = workgroupSum(vec2f(s, 0.0), l);
  if (l.index == 0u) {
    let norm = sqrt(sum.x);
    var scale = 1.0;
    if (clip.maxNorm > 0.0 && norm > clip.maxNorm) {
      scale = clip.maxNorm / norm;
    }
    out[0] = scale;
    out[1] = norm;
  }
}
