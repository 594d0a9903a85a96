;; C[b] = A[b]·B[b] for row-major float32 matrices, A [batch, m, k], B [batch, k, n],
;; C [batch, m, n], with WebAssembly SIMD128. Compiled by scripts/compile-wat.mjs
;; (wabt) into batch-matmul.wasm.ts; the module imports the tfjs-wasm backend's own
;; linear memory, so every pointer below is a byte offset into tfjs's heap.
;;
;; Why it exists: tfjs-wasm 4.22 sends a BatchMatMul to XNNPACK only when it is a
;; single, non-transposed 2-D product; batched ones (attention's q·kᵀ and p·v) run a
;; scalar C++ loop at 2–3 GFLOP/s (shared/docs/perf-anchors.md, "Where the tfjs time
;; goes").
;;
;; Blocking: a tile of 2 rows × 16 columns of C stays in eight f32x4 accumulators
;; over the whole inner dimension, so each B vector loaded feeds two rows. Columns
;; left over are done 4 at a time, then one at a time; an odd last row runs the
;; same tiles with one row.

(module
  (import "env" "memory" (memory 1))

  ;; Two rows × 16 columns. $a0/$a1 walk rows i and i+1 of A, $b walks down 16
  ;; columns of B (one B row per step), $c is C[i][j]; row i+1 of C is $rowBytes on.
  (func $tile_2x16
    (param $a0 i32) (param $a1 i32) (param $b i32) (param $c i32) (param $k i32) (param $rowBytes i32)
    (local $p i32)
    (local $x0 v128) (local $x1 v128)
    (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128)
    (local $r0c0 v128) (local $r0c1 v128) (local $r0c2 v128) (local $r0c3 v128)
    (local $r1c0 v128) (local $r1c1 v128) (local $r1c2 v128) (local $r1c3 v128)
    (block $done
      (loop $step
        (br_if $done (i32.ge_s (local.get $p) (local.get $k)))
        (local.set $x0 (f32x4.splat (f32.load (local.get $a0))))
        (local.set $x1 (f32x4.splat (f32.load (local.get $a1))))
        (local.set $y0 (v128.load offset=0 (local.get $b)))
        (local.set $y1 (v128.load offset=16 (local.get $b)))
        (local.set $y2 (v128.load offset=32 (local.get $b)))
        (local.set $y3 (v128.load offset=48 (local.get $b)))
        (local.set $r0c0 (f32x4.add (local.get $r0c0) (f32x4.mul (local.get $x0) (local.get $y0))))
        (local.set $r0c1 (f32x4.add (local.get $r0c1) (f32x4.mul (local.get $x0) (local.get $y1))))
        (local.set $r0c2 (f32x4.add (local.get $r0c2) (f32x4.mul (local.get $x0) (local.get $y2))))
        (local.set $r0c3 (f32x4.add (local.get $r0c3) (f32x4.mul (local.get $x0) (local.get $y3))))
        (local.set $r1c0 (f32x4.add (local.get $r1c0) (f32x4.mul (local.get $x1) (local.get $y0))))
        (local.set $r1c1 (f32x4.add (local.get $r1c1) (f32x4.mul (local.get $x1) (local.get $y1))))
        (local.set $r1c2 (f32x4.add (local.get $r1c2) (f32x4.mul (local.get $x1) (local.get $y2))))
        (local.set $r1c3 (f32x4.add (local.get $r1c3) (f32x4.mul (local.get $x1) (local.get $y3))))
        (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $rowBytes)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $step)))
    (v128.store offset=0 (local.get $c) (local.get $r0c0))
    (v128.store offset=16 (local.get $c) (local.get $r0c1))
    (v128.store offset=32 (local.get $c) (local.get $r0c2))
    (v128.store offset=48 (local.get $c) (local.get $r0c3))
    (local.set $c (i32.add (local.get $c) (local.get $rowBytes)))
    (v128.store offset=0 (local.get $c) (local.get $r1c0))
    (v128.store offset=16 (local.get $c) (local.get $r1c1))
    (v128.store offset=32 (local.get $c) (local.get $r1c2))
    (v128.store offset=48 (local.get $c) (local.get $r1c3)))

  ;; Two rows × 4 columns.
  (func $tile_2x4
    (param $a0 i32) (param $a1 i32) (param $b i32) (param $c i32) (param $k i32) (param $rowBytes i32)
    (local $p i32) (local $y v128) (local $r0 v128) (local $r1 v128)
    (block $done
      (loop $step
        (br_if $done (i32.ge_s (local.get $p) (local.get $k)))
        (local.set $y (v128.load (local.get $b)))
        (local.set $r0 (f32x4.add (local.get $r0) (f32x4.mul (f32x4.splat (f32.load (local.get $a0))) (local.get $y))))
        (local.set $r1 (f32x4.add (local.get $r1) (f32x4.mul (f32x4.splat (f32.load (local.get $a1))) (local.get $y))))
        (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $rowBytes)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $step)))
    (v128.store (local.get $c) (local.get $r0))
    (v128.store (i32.add (local.get $c) (local.get $rowBytes)) (local.get $r1)))

  ;; Two rows × 1 column, scalar.
  (func $tile_2x1
    (param $a0 i32) (param $a1 i32) (param $b i32) (param $c i32) (param $k i32) (param $rowBytes i32)
    (local $p i32) (local $y f32) (local $r0 f32) (local $r1 f32)
    (block $done
      (loop $step
        (br_if $done (i32.ge_s (local.get $p) (local.get $k)))
        (local.set $y (f32.load (local.get $b)))
        (local.set $r0 (f32.add (local.get $r0) (f32.mul (f32.load (local.get $a0)) (local.get $y))))
        (local.set $r1 (f32.add (local.get $r1) (f32.mul (f32.load (local.get $a1)) (local.get $y))))
        (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $rowBytes)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $step)))
    (f32.store (local.get $c) (local.get $r0))
    (f32.store (i32.add (local.get $c) (local.get $rowBytes)) (local.get $r1)))

  ;; One row × 16 columns (the odd last row of A).
  (func $tile_1x16
    (param $a0 i32) (param $b i32) (param $c i32) (param $k i32) (param $rowBytes i32)
    (local $p i32) (local $x0 v128)
    (local $r0c0 v128) (local $r0c1 v128) (local $r0c2 v128) (local $r0c3 v128)
    (block $done
      (loop $step
        (br_if $done (i32.ge_s (local.get $p) (local.get $k)))
        (local.set $x0 (f32x4.splat (f32.load (local.get $a0))))
        (local.set $r0c0 (f32x4.add (local.get $r0c0) (f32x4.mul (local.get $x0) (v128.load offset=0 (local.get $b)))))
        (local.set $r0c1 (f32x4.add (local.get $r0c1) (f32x4.mul (local.get $x0) (v128.load offset=16 (local.get $b)))))
        (local.set $r0c2 (f32x4.add (local.get $r0c2) (f32x4.mul (local.get $x0) (v128.load offset=32 (local.get $b)))))
        (local.set $r0c3 (f32x4.add (local.get $r0c3) (f32x4.mul (local.get $x0) (v128.load offset=48 (local.get $b)))))
        (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $rowBytes)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $step)))
    (v128.store offset=0 (local.get $c) (local.get $r0c0))
    (v128.store offset=16 (local.get $c) (local.get $r0c1))
    (v128.store offset=32 (local.get $c) (local.get $r0c2))
    (v128.store offset=48 (local.get $c) (local.get $r0c3)))

  ;; One row × 4 columns.
  (func $tile_1x4
    (param $a0 i32) (param $b i32) (param $c i32) (param $k i32) (param $rowBytes i32)
    (local $p i32) (local $r0 v128)
    (block $done
      (loop $step
        (br_if $done (i32.ge_s (local.get $p) (local.get $k)))
        (local.set $r0 (f32x4.add (local.get $r0) (f32x4.mul (f32x4.splat (f32.load (local.get $a0))) (v128.load (local.get $b)))))
        (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $rowBytes)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $step)))
    (v128.store (local.get $c) (local.get $r0)))

  ;; One row × 1 column, scalar.
  (func $tile_1x1
    (param $a0 i32) (param $b i32) (param $c i32) (param $k i32) (param $rowBytes i32)
    (local $p i32) (local $r0 f32)
    (block $done
      (loop $step
        (br_if $done (i32.ge_s (local.get $p) (local.get $k)))
        (local.set $r0 (f32.add (local.get $r0) (f32.mul (f32.load (local.get $a0)) (f32.load (local.get $b)))))
        (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (local.get $rowBytes)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $step)))
    (f32.store (local.get $c) (local.get $r0)))

  ;; Rows i and i+1 of C, every column: 16-wide tiles, then 4-wide, then single columns.
  (func $row_pair
    (param $a0 i32) (param $a1 i32) (param $b i32) (param $c i32) (param $k i32) (param $n i32) (param $rowBytes i32)
    (local $j i32)
    (block $done16
      (loop $next16
        (br_if $done16 (i32.gt_s (i32.add (local.get $j) (i32.const 16)) (local.get $n)))
        (call $tile_2x16 (local.get $a0) (local.get $a1)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
          (local.get $k) (local.get $rowBytes))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $next16)))
    (block $done4
      (loop $next4
        (br_if $done4 (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        (call $tile_2x4 (local.get $a0) (local.get $a1)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
          (local.get $k) (local.get $rowBytes))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $next4)))
    (block $done1
      (loop $next1
        (br_if $done1 (i32.ge_s (local.get $j) (local.get $n)))
        (call $tile_2x1 (local.get $a0) (local.get $a1)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
          (local.get $k) (local.get $rowBytes))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next1))))

  ;; Row i of C alone (the odd last row), every column.
  (func $row_single
    (param $a0 i32) (param $b i32) (param $c i32) (param $k i32) (param $n i32) (param $rowBytes i32)
    (local $j i32)
    (block $done16
      (loop $next16
        (br_if $done16 (i32.gt_s (i32.add (local.get $j) (i32.const 16)) (local.get $n)))
        (call $tile_1x16 (local.get $a0)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
          (local.get $k) (local.get $rowBytes))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $next16)))
    (block $done4
      (loop $next4
        (br_if $done4 (i32.gt_s (i32.add (local.get $j) (i32.const 4)) (local.get $n)))
        (call $tile_1x4 (local.get $a0)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
          (local.get $k) (local.get $rowBytes))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $next4)))
    (block $done1
      (loop $next1
        (br_if $done1 (i32.ge_s (local.get $j) (local.get $n)))
        (call $tile_1x1 (local.get $a0)
          (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
          (local.get $k) (local.get $rowBytes))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next1))))

  ;; The kernel: $a, $b, $c are byte offsets of A, B and C in the imported memory.
  (func (export "bmm")
    (param $a i32) (param $b i32) (param $c i32) (param $batch i32) (param $m i32) (param $k i32) (param $n i32)
    (local $rowBytes i32) ;; one row of B and of C: n floats
    (local $aRowBytes i32) ;; one row of A: k floats
    (local $image i32) (local $i i32)
    (local $aRow i32) (local $bMatrix i32) (local $cRow i32)
    (local.set $rowBytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $aRowBytes (i32.shl (local.get $k) (i32.const 2)))
    (block $doneBatch
      (loop $nextMatrix
        (br_if $doneBatch (i32.ge_s (local.get $image) (local.get $batch)))
        (local.set $aRow (i32.add (local.get $a) (i32.mul (i32.mul (local.get $image) (local.get $m)) (local.get $aRowBytes))))
        (local.set $bMatrix (i32.add (local.get $b) (i32.mul (i32.mul (local.get $image) (local.get $k)) (local.get $rowBytes))))
        (local.set $cRow (i32.add (local.get $c) (i32.mul (i32.mul (local.get $image) (local.get $m)) (local.get $rowBytes))))
        (local.set $i (i32.const 0))
        (block $donePairs
          (loop $nextPair
            (br_if $donePairs (i32.gt_s (i32.add (local.get $i) (i32.const 2)) (local.get $m)))
            (call $row_pair (local.get $aRow) (i32.add (local.get $aRow) (local.get $aRowBytes))
              (local.get $bMatrix) (local.get $cRow) (local.get $k) (local.get $n) (local.get $rowBytes))
            (local.set $aRow (i32.add (local.get $aRow) (i32.shl (local.get $aRowBytes) (i32.const 1))))
            (local.set $cRow (i32.add (local.get $cRow) (i32.shl (local.get $rowBytes) (i32.const 1))))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $nextPair)))
        (if (i32.lt_s (local.get $i) (local.get $m))
          (then
            (call $row_single (local.get $aRow) (local.get $bMatrix) (local.get $cRow)
              (local.get $k) (local.get $n) (local.get $rowBytes))))
        (local.set $image (i32.add (local.get $image) (i32.const 1)))
        (br $nextMatrix))))
)
