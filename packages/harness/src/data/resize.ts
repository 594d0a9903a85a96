/**
 * Separable bilinear resampling with half-pixel centres (align_corners = false).
 * When shrinking, the triangle filter is widened by the scale factor, as PIL's
 * BILINEAR does, so a 224 -> 32 reduction averages instead of aliasing; when
 * enlarging it is the ordinary 2-tap bilinear with edge clamping.
 */
interface Taps {
  /** for output index o: taps start at offsets[o] in index/weight */
  readonly starts: Int32Array;
  readonly counts: Int32Array;
  readonly index: Int32Array;
  readonly weight: Float64Array;
}

function axisTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const starts = new Int32Array(outSize);
  const counts = new Int32Array(outSize);
  const index: number[] = [];
  const weight: number[] = [];
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inSize - 1, Math.ceil(centre + support));
    starts[o] = index.length;
    let total = 0;
    const first = index.length;
    for (let i = lo; i <= hi; i++) {
      const w = 1 - Math.abs(i + 0.5 - centre) / support;
      if (w <= 0) continue;
      index.push(i);
      weight.push(w);
      total += w;
    }
    if (index.length === first) {
      index.push(Math.min(inSize - 1, Math.max(0, Math.floor(centre))));
      weight.push(1);
      total = 1;
    }
    for (let k = first; k < index.length; k++) weight[k] = (weight[k] as number) / total;
    counts[o] = index.length - first;
  }
  return { starts, counts, index: Int32Array.from(index), weight: Float64Array.from(weight) };
}

/** A reusable resampler from (inH, inW) to (outH, outW) for images with `channels` interleaved channels. */
export class Resizer {
  private readonly rows: Taps;
  private readonly cols: Taps;
  private readonly tmp: Float64Array;

  constructor(
    readonly inH: number,
    readonly inW: number,
    readonly outH: number,
    readonly outW: number,
    readonly channels: number,
  ) {
    this.rows = axisTaps(inH, outH);
    this.cols = axisTaps(inW, outW);
    this.tmp = new Float64Array(inH * outW * channels);
  }

  /** Resamples HWC `src` into `dst` (values on the 0..255 scale, unrounded). */
  resize(src: ArrayLike<number>, dst: Float64Array | Float32Array): void {
    const { inH, inW, outH, outW, channels: c, rows, cols, tmp } = this;
    for (let y = 0; y < inH; y++) {
      const rowIn = y * inW * c;
      const rowOut = y * outW * c;
      for (let x = 0; x < outW; x++) {
        const s = cols.starts[x] as number;
        const n = cols.counts[x] as number;
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let k = s; k < s + n; k++) acc += (cols.weight[k] as number) * (src[rowIn + (cols.index[k] as number) * c + ch] as number);
          tmp[rowOut + x * c + ch] = acc;
        }
      }
    }
    const stride = outW * c;
    for (let y = 0; y < outH; y++) {
      const s = rows.starts[y] as number;
      const n = rows.counts[y] as number;
      const out = y * stride;
      for (let j = 0; j < stride; j++) {
        let acc = 0;
        for (let k = s; k < s + n; k++) acc += (rows.weight[k] as number) * (tmp[(rows.index[k] as number) * stride + j] as number);
        dst[out + j] = acc;
      }
    }
  }

  /** Resamples to uint8, rounding to nearest. */
  resizeToUint8(src: ArrayLike<number>, dst: Uint8Array): void {
    const out = new Float64Array(this.outH * this.outW * this.channels);
    this.resize(src, out);
    for (let i = 0; i < out.length; i++) dst[i] = Math.min(255, Math.max(0, Math.round(out[i] as number)));
  }
}

/** Resizes every image of a packed HWC uint8 buffer; returns the input unchanged when the size already matches. */
export function resizeAll(pixels: Uint8Array, count: number, inH: number, inW: number, channels: number, outH: number, outW: number): Uint8Array {
  if (inH === outH && inW === outW) return pixels;
  const resizer = new Resizer(inH, inW, outH, outW, channels);
  const inBytes = inH * inW * channels;
  const outBytes = outH * outW * channels;
  const out = new Uint8Array(count * outBytes);
  for (let i = 0; i < count; i++) {
    resizer.resizeToUint8(pixels.subarray(i * inBytes, (i + 1) * inBytes), out.subarray(i * outBytes, (i + 1) * outBytes));
  }
  return out;
}
