;; LayerNorm over the last axis, forward and backward, one row at a time with
;; WebAssembly SIMD128, and the column sums a linear layer's bias gradient needs.
;; Compiled by scripts/compile-wat.mjs (wabt) into layer-norm.wasm.ts; like the other
;; kernels, the module imports the tfjs-wasm backend's memory and pointers are byte
;; offsets into it. Rows are `c` float32 wide, c a multiple of 4 (layer-norm.ts
;; falls back to the composite otherwise); column_sum takes any width.
;;
;; Why it exists: the composite LayerNorm is 9 tfjs kernels forward (two Means, Sub,
;; Square, Add, Rsqrt, Sub, Mul, Mul, Add) and about 12 backward, each a full pass over
;; the [B·N, C] activations; its weight and bias gradients and every linear layer's
;; bias gradient are Sums over axis 0, which tfjs-wasm runs as a Transpose followed by
;; a row reduction. In a DeiT-Tiny-sized training step these were 10-15 % of kernel time
;; (docs/performance.md).
;;
;; Formulas (Ba et al. 2016, §3; the gradient is the standard closed form):
;;   μ = Σx/C, σ² = Σ(x−μ)²/C (biased, as PyTorch), r = 1/√(σ²+ε), x̂ = (x−μ)·r,
;;   y = x̂·w + b;
;;   g = dy·w, dx = r·(g − Σg/C − x̂·Σ(g·x̂)/C), dw = Σ_rows dy·x̂, db = Σ_rows dy.
;; The variance is a second pass over the centred row, as tf.moments computes it.

(module
  (import "env" "memory" (memory 1))

  ;; the four lanes of v added
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; y[r, :] = layer_norm(x[r, :]) for r < rows; stats[r] = (μ, 1/σ) for the backward pass.
  (func (export "layer_norm")
    (param $x i32) (param $w i32) (param $b i32) (param $y i32) (param $stats i32)
    (param $rows i32) (param $c i32) (param $eps f32)
    (local $rowBytes i32) (local $rowEnd i32) (local $p i32) (local $j i32) (local $q i32)
    (local $acc v128) (local $d v128) (local $mean f32) (local $rstd f32) (local $meanV v128) (local $rstdV v128)
    (local.set $rowBytes (i32.shl (local.get $c) (i32.const 2)))
    (block $rdone
      (loop $r
        (br_if $rdone (i32.eqz (local.get $rows)))
        (local.set $rowEnd (i32.add (local.get $x) (local.get $rowBytes)))
        ;; μ
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $p (local.get $x))
        (block $d1 (loop $l1
          (br_if $d1 (i32.ge_u (local.get $p) (local.get $rowEnd)))
          (local.set $acc (f32x4.add (local.get $acc) (v128.load (local.get $p))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $l1)))
        (local.set $mean (f32.div (call $hsum (local.get $acc)) (f32.convert_i32_u (local.get $c))))
        (local.set $meanV (f32x4.splat (local.get $mean)))
        ;; σ² from the centred row
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $p (local.get $x))
        (block $d2 (loop $l2
          (br_if $d2 (i32.ge_u (local.get $p) (local.get $rowEnd)))
          (local.set $d (f32x4.sub (v128.load (local.get $p)) (local.get $meanV)))
          (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $d) (local.get $d))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $l2)))
        (local.set $rstd
          (f32.div (f32.const 1)
            (f32.sqrt (f32.add (f32.div (call $hsum (local.get $acc)) (f32.convert_i32_u (local.get $c))) (local.get $eps)))))
        (local.set $rstdV (f32x4.splat (local.get $rstd)))
        (f32.store (local.get $stats) (local.get $mean))
        (f32.store offset=4 (local.get $stats) (local.get $rstd))
        ;; y = x̂·w + b
        (local.set $p (local.get $x))
        (local.set $j (i32.const 0))
        (local.set $q (local.get $y))
        (block $d3 (loop $l3
          (br_if $d3 (i32.ge_u (local.get $p) (local.get $rowEnd)))
          (v128.store (local.get $q)
            (f32x4.add
              (f32x4.mul
                (f32x4.mul (f32x4.sub (v128.load (local.get $p)) (local.get $meanV)) (local.get $rstdV))
                (v128.load (i32.add (local.get $w) (local.get $j))))
              (v128.load (i32.add (local.get $b) (local.get $j)))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (local.set $q (i32.add (local.get $q) (i32.const 16)))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $l3)))
        (local.set $x (local.get $rowEnd))
        (local.set $y (i32.add (local.get $y) (local.get $rowBytes)))
        (local.set $stats (i32.add (local.get $stats) (i32.const 8)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $r))))

  ;; dx[r, :] for r < rows, and dw = Σ_r dy·x̂, db = Σ_r dy (overwritten, not accumulated
  ;; into). dx may be dy's buffer: each row reads dy fully before writing dx.
  (func (export "layer_norm_grad")
    (param $dy i32) (param $x i32) (param $w i32) (param $stats i32)
    (param $dx i32) (param $dw i32) (param $db i32) (param $rows i32) (param $c i32)
    (local $rowBytes i32) (local $j i32) (local $meanV v128) (local $rstdV v128)
    (local $g v128) (local $xh v128) (local $dyv v128) (local $sg v128) (local $sgx v128)
    (local $mg v128) (local $mgx v128) (local $invC f32)
    (local.set $rowBytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $invC (f32.div (f32.const 1) (f32.convert_i32_u (local.get $c))))
    (local.set $j (i32.const 0))
    (block $zdone (loop $z
      (br_if $zdone (i32.ge_u (local.get $j) (local.get $rowBytes)))
      (v128.store (i32.add (local.get $dw) (local.get $j)) (v128.const i32x4 0 0 0 0))
      (v128.store (i32.add (local.get $db) (local.get $j)) (v128.const i32x4 0 0 0 0))
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $z)))
    (block $rdone
      (loop $r
        (br_if $rdone (i32.eqz (local.get $rows)))
        (local.set $meanV (v128.load32_splat (local.get $stats)))
        (local.set $rstdV (v128.load32_splat offset=4 (local.get $stats)))
        ;; Σg and Σg·x̂ over the row
        (local.set $sg (v128.const i32x4 0 0 0 0))
        (local.set $sgx (v128.const i32x4 0 0 0 0))
        (local.set $j (i32.const 0))
        (block $d1 (loop $l1
          (br_if $d1 (i32.ge_u (local.get $j) (local.get $rowBytes)))
          (local.set $g (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $j))) (v128.load (i32.add (local.get $w) (local.get $j)))))
          (local.set $xh (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $j))) (local.get $meanV)) (local.get $rstdV)))
          (local.set $sg (f32x4.add (local.get $sg) (local.get $g)))
          (local.set $sgx (f32x4.add (local.get $sgx) (f32x4.mul (local.get $g) (local.get $xh))))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $l1)))
        (local.set $mg (f32x4.splat (f32.mul (call $hsum (local.get $sg)) (local.get $invC))))
        (local.set $mgx (f32x4.splat (f32.mul (call $hsum (local.get $sgx)) (local.get $invC))))
        ;; dx, and this row's share of dw and db
        (local.set $j (i32.const 0))
        (block $d2 (loop $l2
          (br_if $d2 (i32.ge_u (local.get $j) (local.get $rowBytes)))
          (local.set $dyv (v128.load (i32.add (local.get $dy) (local.get $j))))
          (local.set $g (f32x4.mul (local.get $dyv) (v128.load (i32.add (local.get $w) (local.get $j)))))
          (local.set $xh (f32x4.mul (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $j))) (local.get $meanV)) (local.get $rstdV)))
          (v128.store (i32.add (local.get $dw) (local.get $j))
            (f32x4.add (v128.load (i32.add (local.get $dw) (local.get $j))) (f32x4.mul (local.get $dyv) (local.get $xh))))
          (v128.store (i32.add (local.get $db) (local.get $j))
            (f32x4.add (v128.load (i32.add (local.get $db) (local.get $j))) (local.get $dyv)))
          (v128.store (i32.add (local.get $dx) (local.get $j))
            (f32x4.mul
              (f32x4.sub (f32x4.sub (local.get $g) (local.get $mg)) (f32x4.mul (local.get $xh) (local.get $mgx)))
              (local.get $rstdV)))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $l2)))
        (local.set $dy (i32.add (local.get $dy) (local.get $rowBytes)))
        (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
        (local.set $dx (i32.add (local.get $dx) (local.get $rowBytes)))
        (local.set $stats (i32.add (local.get $stats) (i32.const 8)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $r))))

  ;; out[j] = Σ_r x[r, j] for j < c, any c: each row in order is added into out (which
  ;; stays in cache), four columns at a time, then the last c mod 4 columns one at a time.
  (func (export "column_sum") (param $x i32) (param $out i32) (param $rows i32) (param $c i32)
    (local $rowBytes i32) (local $vecBytes i32) (local $j i32)
    (local.set $rowBytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $vecBytes (i32.shl (i32.and (local.get $c) (i32.const -4)) (i32.const 2)))
    (local.set $j (i32.const 0))
    (block $zdone (loop $z
      (br_if $zdone (i32.ge_u (local.get $j) (local.get $rowBytes)))
      (f32.store (i32.add (local.get $out) (local.get $j)) (f32.const 0))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $z)))
    (block $rdone (loop $r
      (br_if $rdone (i32.eqz (local.get $rows)))
      (local.set $j (i32.const 0))
      (block $vdone (loop $v
        (br_if $vdone (i32.ge_u (local.get $j) (local.get $vecBytes)))
        (v128.store (i32.add (local.get $out) (local.get $j))
          (f32x4.add (v128.load (i32.add (local.get $out) (local.get $j))) (v128.load (i32.add (local.get $x) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $v)))
      (block $sdone (loop $s
        (br_if $sdone (i32.ge_u (local.get $j) (local.get $rowBytes)))
        (f32.store (i32.add (local.get $out) (local.get $j))
          (f32.add (f32.load (i32.add (local.get $out) (local.get $j))) (f32.load (i32.add (local.get $x) (local.get $j)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $s)))
      (local.set $x (i32.add (local.get $x) (local.get $rowBytes)))
      (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
      (br $r)))))
