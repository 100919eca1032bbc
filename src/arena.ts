/**
 * Arena layouts: named views (offset, shape) packed into one buffer, offsets
 * aligned so any view could also be bound on its own. Offsets and sizes are in
 * f32 elements.
 */
export interface View {
  name: string;
  offset: number;
  size: number;
  shape: number[];
}

export class ArenaLayout {
  readonly views = new Map<string, View>();
  private end = 0;

  constructor(
    readonly label: string,
    /** Alignment of every view, in elements. */
    readonly align: number,
  ) {}

  alloc(name: string, shape: number[]): View {
    if (this.views.has(name)) throw new Error(`${this.label}: view ${name} allocated twice`);
    const size = shape.reduce((a, b) => a * b, 1);
    const offset = Math.ceil(this.end / this.align) * this.align;
    const view = { name, offset, size, shape };
    this.views.set(name, view);
    this.end = offset + size;
    return view;
  }

  get(name: string): View {
    const v = this.views.get(name);
    if (!v) throw new Error(`${this.label}: no view named ${name}`);
    return v;
  }

  /** Elements the arena spans. */
  get size(): number {
    return Math.max(this.end, 4);
  }

  get bytes(): number {
    return this.size * 4;
  }
}
