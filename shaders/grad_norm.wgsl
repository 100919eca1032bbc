// Global gradient norm and the clipping scale, in one workgroup so no CPU wait
// is needed between the backward pass and the optimizer:
//   out[0] = min(1, maxNorm / ||g||)  (1 when maxNorm is 0: clipping off)
//   out[1] = ||g||                    (read back with the losses)

// Lanes and workgroupSum: lanes_plain.wgsl or lanes_subgroup.wgsl.

const WG: u32 = 256u;

struct Clip {
  count: u32, pad0: u32, maxNorm: f32, pad1: f32,
}

@group(0) @binding(0) var<uniform> clip: Clip;
@group(0) @binding(1) var<storage, read_write> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> outScale: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(l: Lanes) {
  var s = 0.0;
  for (var i = l.index; i < clip.count; i += WG) {
    let g = grads[i];
    s = fma(g, g, s);
  }
  let total = workgroupSum(vec2f(s, 0.0), l);
  if (l.index == 0u) {
    let norm = sqrt(total.x);
    var scale = 1.0;
    if (clip.maxNorm > 0.0 && norm > clip.maxNorm) {
      scale = clip.maxNorm / norm;
    }
    outScale[0] = scale;
    outScale[1] = norm;
  }
}
