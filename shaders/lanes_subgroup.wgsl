// The subgroup path of the reduction kernels: the same names as lanes_plain.wgsl, with a
// subgroup as the lane group. A kernel written over lanes then runs one row per subgroup, its
// lanes striding over the row and summing with subgroupAdd; workgroup sums add within each
// subgroup first, leaving one partial per subgroup. Subgroup s is taken to hold the
// invocations s*size .. s*size+size-1 (local_invocation_index / subgroup_size), as Vulkan,
// Metal and D3D12 lay out a one-dimensional workgroup; the kernels' tests check it on the
// adapter. Needs the kernel's const WG, at least the adapter's largest subgroup size.
enable subgroups;

struct Lanes {
  @builtin(local_invocation_index) index: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
}

fn laneIndex(l: Lanes) -> u32 {
  return l.lane;
}

fn laneCount(l: Lanes) -> u32 {
  return l.size;
}

// Sum over the subgroup; every lane gets it.
fn laneSum(v: vec4f) -> vec4f {
  return subgroupAdd(v);
}

var<workgroup> reducePartial: array<vec2f, WG>;

// Sum of v over the workgroup, returned to every invocation. Call it once per dispatch, from
// uniform control flow.
fn workgroupSum(v: vec2f, l: Lanes) -> vec2f {
  let s = subgroupAdd(v);
  if (l.lane == 0u) {
    reducePartial[l.index / l.size] = s;
  }
  workgroupBarrier();
  // Every subgroup adds the partials up itself: no second barrier.
  var t = vec2f(0.0);
  for (var i = l.lane; i < (WG + l.size - 1u) / l.size; i += l.size) {
    t += reducePartial[i];
  }
  return subgroupAdd(t);
}
