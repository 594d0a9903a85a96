;; Exact GELU, y = x·Φ(x) = ½x(1 + erf(x/√2)), and its gradient dx = dy·(Φ(x) + x·φ(x)),
;; each in one pass over float32 memory with WebAssembly SIMD128. Compiled by
;; scripts/compile-wat.mjs (wabt) into gelu.wasm.ts; like batch-matmul.wat, the module
;; imports the tfjs-wasm backend's linear memory, so pointers are byte offsets into it.
;;
;; Why it exists: tfjs builds GELU from separate kernels (Multiply, Erf, Add, and for
;; the gradient Square, Exp and five more), each a full pass over the B·N·4d hidden
;; activations and a new tensor; Erf and Exp are scalar libm loops. In a DeiT-Tiny
;; training step on wasm those passes were the largest cost after the matmuls.
;;
;; erf: the rational approximation Eigen and XLA use for float32 (Eigen
;; SpecialFunctionsImpl.h, generic_fast_erf_float): x clamped to [-4, 4], odd
;; polynomial of degree 13 over an even one of degree 8. exp: Cephes expf (range
;; reduction by ln 2 in two parts, degree-6 polynomial, 2^k built in the exponent
;; bits). Both agree with float64 to a few float32 ulps (test/ops-gelu-kernel.test.ts).

(module
  (import "env" "memory" (memory 1))

  ;; The clamps use pmin/pmax (one minps/maxps each on x64) rather than min/max, which
  ;; V8 expands into several instructions for IEEE NaN and ±0 rules; with x as the first
  ;; operand a NaN still passes through (pmax(x, c) = x < c ? c : x), and the constants
  ;; are not zeros, so values are unchanged.
  (func $poly_erf (param $x v128) (result v128)
    (local $x2 v128) (local $p v128) (local $q v128)
    (local.set $x (f32x4.pmin (f32x4.pmax (local.get $x) (f32x4.splat (f32.const -4))) (f32x4.splat (f32.const 4))))
    (local.set $x2 (f32x4.mul (local.get $x) (local.get $x)))
    (local.set $p (f32x4.splat (f32.const -2.72614225801306e-10)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $x2)) (f32x4.splat (f32.const 2.77068142495902e-08))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $x2)) (f32x4.splat (f32.const -2.10102402082508e-06))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $x2)) (f32x4.splat (f32.const -5.69250639462346e-05))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $x2)) (f32x4.splat (f32.const -7.34990630326855e-04))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $x2)) (f32x4.splat (f32.const -2.95459980854025e-03))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $x2)) (f32x4.splat (f32.const -1.60960333262415e-02))))
    (local.set $p (f32x4.mul (local.get $p) (local.get $x)))
    (local.set $q (f32x4.splat (f32.const -1.45660718464996e-05)))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $x2)) (f32x4.splat (f32.const -2.13374055278905e-04))))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $x2)) (f32x4.splat (f32.const -1.68282697438203e-03))))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $x2)) (f32x4.splat (f32.const -7.37332916720468e-03))))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $x2)) (f32x4.splat (f32.const -1.42647390514189e-02))))
    (f32x4.div (local.get $p) (local.get $q)))

  ;; e^x for x <= 0 (the GELU density only needs e^(-x²/2)); below -87.3 the result is
  ;; the smallest normal power of two's neighbourhood, i.e. 0 to float32 precision here.
  (func $exp_neg (param $x v128) (result v128)
    (local $k v128) (local $r v128) (local $z v128) (local $y v128)
    (local.set $x (f32x4.pmax (local.get $x) (f32x4.splat (f32.const -87.3))))
    ;; k = round(x / ln 2)
    (local.set $k (f32x4.floor (f32x4.add (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504088896341))) (f32x4.splat (f32.const 0.5)))))
    ;; r = x − k·ln 2, ln 2 split as 0.693359375 − 2.12194440e-4 so k·C1 is exact
    (local.set $r (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) (f32x4.splat (f32.const 0.693359375)))))
    (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $k) (f32x4.splat (f32.const -2.12194440e-4)))))
    (local.set $z (f32x4.mul (local.get $r) (local.get $r)))
    (local.set $y (f32x4.splat (f32.const 1.9875691500e-4)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (f32x4.splat (f32.const 1.3981999507e-3))))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (f32x4.splat (f32.const 8.3334519073e-3))))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (f32x4.splat (f32.const 4.1665795894e-2))))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (f32x4.splat (f32.const 1.6666665459e-1))))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $r)) (f32x4.splat (f32.const 5.0000001201e-1))))
    (local.set $y (f32x4.add (f32x4.add (f32x4.mul (local.get $y) (local.get $z)) (local.get $r)) (f32x4.splat (f32.const 1))))
    ;; × 2^k: k + 127 in the exponent field (k >= -126 after the clamp, so the result is normal)
    (f32x4.mul (local.get $y)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (i32x4.splat (i32.const 127))) (i32.const 23))))

  ;; Φ(x) = ½(1 + erf(x/√2))
  (func $cdf (param $x v128) (result v128)
    (f32x4.mul (f32x4.splat (f32.const 0.5))
      (f32x4.add (f32x4.splat (f32.const 1))
        (call $poly_erf (f32x4.mul (local.get $x) (f32x4.splat (f32.const 0.70710678118654752)))))))

  (func $gelu_vec (param $x v128) (result v128)
    (f32x4.mul (local.get $x) (call $cdf (local.get $x))))

  ;; dy·(Φ(x) + x·φ(x)), φ(x) = e^(−x²/2)/√(2π)
  (func $gelu_grad_vec (param $x v128) (param $dy v128) (result v128)
    (local $pdf v128)
    (local.set $pdf
      (f32x4.mul (f32x4.splat (f32.const 0.39894228040143268))
        (call $exp_neg (f32x4.mul (f32x4.splat (f32.const -0.5)) (f32x4.mul (local.get $x) (local.get $x))))))
    (f32x4.mul (local.get $dy)
      (f32x4.add (call $cdf (local.get $x)) (f32x4.mul (local.get $x) (local.get $pdf)))))

  ;; y[i] = gelu(x[i]) for i < n; x and y may be the same buffer.
  (func (export "gelu") (param $x i32) (param $y i32) (param $n i32)
    (local $end i32) (local $vecEnd i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.ge_u (local.get $x) (local.get $vecEnd)))
        (v128.store (local.get $y) (call $gelu_vec (v128.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $v)))
    ;; the last n mod 4 elements, one lane at a time
    (block $sdone
      (loop $s
        (br_if $sdone (i32.ge_u (local.get $x) (local.get $end)))
        (f32.store (local.get $y) (f32x4.extract_lane 0 (call $gelu_vec (f32x4.splat (f32.load (local.get $x))))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (br $s))))

  ;; dx[i] = dy[i]·gelu'(x[i]) for i < n; dx may be dy's buffer.
  (func (export "gelu_grad") (param $x i32) (param $dy i32) (param $dx i32) (param $n i32)
    (local $end i32) (local $vecEnd i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vecEnd (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.ge_u (local.get $x) (local.get $vecEnd)))
        (v128.store (local.get $dx) (call $gelu_grad_vec (v128.load (local.get $x)) (v128.load (local.get $dy))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
        (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
        (br $v)))
    (block $sdone
      (loop $s
        (br_if $sdone (i32.ge_u (local.get $x) (local.get $end)))
        (f32.store (local.get $dx)
          (f32x4.extract_lane 0 (call $gelu_grad_vec (f32x4.splat (f32.load (local.get $x))) (f32x4.splat (f32.load (local.get $dy))))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $dy (i32.add (local.get $dy) (i32.const 4)))
        (local.set $dx (i32.add (local.get $dx) (i32.const 4)))
        (br $s)))))
