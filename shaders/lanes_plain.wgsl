// The plain path of the reduction kernels (gate_softmax, mixture_gate_grad, task_loss,
// grad_norm): src/kernels/lanes.ts prepends this file or lanes_subgroup.wgsl to them.
// Both define the same names; here every invocation is a lane group of its own (laneCount 1),
// so a kernel written over "lanes" runs one row per invocation, and workgroup sums go
// through workgroup memory in a tree. Needs the kernel's const WG.

struct Lanes {
  @builtin(local_invocation_index) index: u32,
}

fn laneIndex(l: Lanes) -> u32 {
  return 0u;
}

fn laneCount(l: Lanes) -> u32 {
  return 1u;
}

// Sum over the invocation's lane group: itself.
fn laneSum(v: vec4f) -> vec4f {
  return v;
}

var<workgroup> reducePartial: array<vec2f, WG>;

// Sum of v over the workgroup, returned to every invocation. Call it once per dispatch, from
// uniform control flow.
fn workgroupSum(v: vec2f, l: Lanes) -> vec2f {
  reducePartial[l.index] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (l.index < stride) {
      reducePartial[l.index] += reducePartial[l.index + stride];
    }
    workgroupBarrier();
  }
  return reducePartial[0];
}
