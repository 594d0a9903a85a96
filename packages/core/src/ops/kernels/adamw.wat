;; One AdamW step (Loshchilov & Hutter 2019, Alg. 2, in torch.optim.AdamW's arrangement)
;; over a parameter tensor in a single pass with WebAssembly SIMD128: reads p, g, m, v
;; once and writes p', m', v'. Compiled by scripts/compile-wat.mjs (wabt) into
;; adamw.wasm.ts; like the other kernels it imports the tfjs-wasm backend's linear
;; memory, so pointers are byte offsets into it.
;;
;; Why it exists: written with tfjs ops the step is about ten kernels per parameter
;; tensor (each a full pass and a new tensor), which made the optimizer a large share
;; of a UniFormer step (21 M parameters) and ran in every data-parallel replica.
;;
;; The arithmetic is the composite's, operation for operation and in float32, so the
;; result is the same to the bit (test/ops-adamw.test.ts):
;;   p1 = p·decay                          decay = 1 − lr·λ, or 1 without weight decay
;;   m' = m·β1 + g·(1 − β1)
;;   v' = v·β2 + (g·g)·(1 − β2)
;;   p' = p1 − (m' / (√v' / √(1 − β2^t) + ε)) · (lr / (1 − β1^t))
;; The scalars come in already rounded to float32, as tfjs rounds its scalar operands.

(module
  (import "env" "memory" (memory 1))

  (func (export "adamw")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32)
    (param $pOut i32) (param $mOut i32) (param $vOut i32) (param $n i32)
    (param $decay f32) (param $b1 f32) (param $omb1 f32) (param $b2 f32) (param $omb2 f32)
    (param $sqrtBias2 f32) (param $eps f32) (param $stepSize f32)
    (local $i i32) (local $bytes i32) (local $vecBytes i32)
    (local $vDecay v128) (local $vB1 v128) (local $vOmb1 v128) (local $vB2 v128) (local $vOmb2 v128)
    (local $vSqrtBias2 v128) (local $vEps v128) (local $vStep v128)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $bytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vecBytes (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (local.set $vDecay (f32x4.splat (local.get $decay)))
    (local.set $vB1 (f32x4.splat (local.get $b1)))
    (local.set $vOmb1 (f32x4.splat (local.get $omb1)))
    (local.set $vB2 (f32x4.splat (local.get $b2)))
    (local.set $vOmb2 (f32x4.splat (local.get $omb2)))
    (local.set $vSqrtBias2 (f32x4.splat (local.get $sqrtBias2)))
    (local.set $vEps (f32x4.splat (local.get $eps)))
    (local.set $vStep (f32x4.splat (local.get $stepSize)))
    (block $vdone
      (loop $vl
        (br_if $vdone (i32.ge_u (local.get $i) (local.get $vecBytes)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
        (local.set $mv
          (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $i))) (local.get $vB1))
                     (f32x4.mul (local.get $gv) (local.get $vOmb1))))
        (local.set $vv
          (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $i))) (local.get $vB2))
                     (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $vOmb2))))
        (v128.store (i32.add (local.get $mOut) (local.get $i)) (local.get $mv))
        (v128.store (i32.add (local.get $vOut) (local.get $i)) (local.get $vv))
        (v128.store (i32.add (local.get $pOut) (local.get $i))
          (f32x4.sub
            (f32x4.mul (v128.load (i32.add (local.get $p) (local.get $i))) (local.get $vDecay))
            (f32x4.mul
              (f32x4.div (local.get $mv)
                (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vv)) (local.get $vSqrtBias2)) (local.get $vEps)))
              (local.get $vStep))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $vl)))
    ;; the last n mod 4 elements, one at a time, same operations
    (block $sdone
      (loop $sl
        (br_if $sdone (i32.ge_u (local.get $i) (local.get $bytes)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $i))))
        (local.set $ms
          (f32.add (f32.mul (f32.load (i32.add (local.get $m) (local.get $i))) (local.get $b1))
                   (f32.mul (local.get $gs) (local.get $omb1))))
        (local.set $vs
          (f32.add (f32.mul (f32.load (i32.add (local.get $v) (local.get $i))) (local.get $b2))
                   (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $omb2))))
        (f32.store (i32.add (local.get $mOut) (local.get $i)) (local.get $ms))
        (f32.store (i32.add (local.get $vOut) (local.get $i)) (local.get $vs))
        (f32.store (i32.add (local.get $pOut) (local.get $i))
          (f32.sub
            (f32.mul (f32.load (i32.add (local.get $p) (local.get $i))) (local.get $decay))
            (f32.mul
              (f32.div (local.get $ms)
                (f32.add (f32.div (f32.sqrt (local.get $vs)) (local.get $sqrtBias2)) (local.get $eps)))
              (local.get $stepSize))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $sl)))))
