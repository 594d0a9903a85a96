import { checkInteger, InvalidArgumentError, type MixBox } from '@tessera/core';

export interface Size {
  readonly height: number;
  readonly width: number;
}

/**
 * The CutMix box as a mask over the token grid, row-major (1 = token inside the
 * box). Matches TransMix's `nn.Upsample(size)` in PyTorch's legacy 'nearest' mode:
 * token (i, j) reads pixel (⌊i·H/h⌋, ⌊j·W/w⌋), its top-left pixel for a grid of
 * whole patches. Height and width are handled separately, so non-square grids
 * work (the official code assumes a √N × √N grid).
 */
export function boxMaskOnGrid(box: MixBox, image: Size, grid: Size): Float32Array {
  checkInteger('image.height', image.height, 1);
  checkInteger('image.width', image.width, 1);
  checkInteger('grid.height', grid.height, 1);
  checkInteger('grid.width', grid.width, 1);
  if (box.top < 0 || box.left < 0 || box.bottom > image.height || box.right > image.width || box.top > box.bottom || box.left > box.right) {
    throw new InvalidArgumentError('box', box, `a box inside the ${image.height}x${image.width} image with top <= bottom and left <= right`);
  }
  const source = (index: number, from: number, to: number) => Math.floor((index * from) / to);
  const mask = new Float32Array(grid.height * grid.width);
  for (let i = 0; i < grid.height; i++) {
    const y = source(i, image.height, grid.height);
    if (y < box.top || y >= box.bottom) continue;
    for (let j = 0; j < grid.width; j++) {
      const x = source(j, image.width, grid.width);
      if (x >= box.left && x < box.right) mask[i * grid.width + j] = 1;
    }
  }
  return mask;
}
