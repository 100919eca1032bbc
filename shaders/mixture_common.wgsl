// What the mixture kernels share; src/kernels/mixture.ts prepends it to mixture.wgsl,
// mixture_gate_grad.wgsl and mixture_expert_grad.wgsl, src/kernels/gate_mixture.ts to
// gate_mixture.wgsl.
//
// A gate's mixture: its weights [rows x n] at wOff (row stride wRow), the level's expert
// outputs side by side at zOff (expert e's row r starts at zOff + r*zRow + e*d), and its
// members: ownCount own experts from ownStart, then the shared ones from sharedStart.
// The forward pass writes the mixture at outOff; the gate gradient reads the mixture's
// gradient at dgOff and writes the logit gradient at dlOff.

const WG: u32 = 64u;
const O_TILE: u32 = 4u;

struct Mixture {
  rows: u32, d: u32, n: u32, ownStart: u32,
  ownCount: u32, sharedStart: u32, wOff: u32, wRow: u32,
  zOff: u32, zRow: u32, outOff: u32, outRow: u32,
  dgOff: u32, dgRow: u32, dlOff: u32, dlRow: u32,
}

// The expert index of a gate's j-th member.
fn member(d: Mixture, j: u32) -> u32 {
  return select(d.sharedStart + j - d.ownCount, d.ownStart + j, j < d.ownCount);
}

// The row and first output of the O_TILE outputs invocation `i` (counted across the grid) computes
// in a [rows x d] block, as (row, first output); x = rows when the invocation has none.
fn outputTile(i: u32, rows: u32, d: u32) -> vec2u {
  let blocks = (d + O_TILE - 1u) / O_TILE;
  if (i >= rows * blocks) {
    return vec2u(rows, 0u);
  }
  return vec2u(i / blocks, (i % blocks) * O_TILE);
}
