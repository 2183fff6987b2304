//! How our operators become tract ops: each is a [`Kernel`] (its typed output facts and
//! its evaluation), and [`KernelOp`] wraps any kernel into tract's `Expansion` (with
//! inference rules derived from the typed facts), `Op`, `EvalOp` and `TypedOp`, so that
//! the operators hold only their semantics.

#![forbid(unsafe_code)]

use std::fmt::Debug;
use std::sync::Arc;

use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::expandable::{expand, Expansion};

/// What a tract builder returns: the op, and no extra inputs.
pub type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// One operator's semantics, built once from its node's attributes.
pub trait Kernel: Debug + Send + Sync + 'static {
    /// The ONNX operator name.
    fn name(&self) -> &'static str;

    /// The number of inputs.
    fn n_inputs(&self) -> usize {
        1
    }

    /// The number of outputs.
    fn n_outputs(&self) -> usize {
        1
    }

    /// The outputs' types and shapes; refuses the inputs the operator cannot take,
    /// naming the node: this is where a graph is checked at load.
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>>;

    /// Computes the outputs.
    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>>;
}

/// Any [`Kernel`] as a tract op.
#[derive(Debug, Clone)]
pub struct KernelOp(Arc<dyn Kernel>);

impl KernelOp {
    /// What a builder returns for `kernel`.
    pub fn built(kernel: impl Kernel) -> Built {
        Ok((expand(KernelOp(Arc::new(kernel))), vec![]))
    }
}

/// tract compares ops to deduplicate nodes: a kernel is built from one node and never
/// changes, so the shared kernel identifies the op (and float attributes would make a
/// derived `Eq` a lie).
impl PartialEq for KernelOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for KernelOp {}

impl Expansion for KernelOp {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.0.n_outputs())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.0.n_inputs())?;
        check_output_arity(outputs, self.0.n_outputs())?;
        // Once the inputs' types and shapes are known, the outputs are what the kernel's
        // typed facts say: one statement of the outputs, not two to keep in step.
        let kernel = &self.0;
        s.given_all(inputs.iter().map(|i| &i.datum_type), move |s, types| {
            s.given_all(inputs.iter().map(|i| &i.shape), move |s, shapes| {
                let facts: Vec<TypedFact> = (types.iter().zip(shapes))
                    .map(|(dt, shape)| dt.fact(shape))
                    .collect();
                let facts: Vec<&TypedFact> = facts.iter().collect();
                for (output, fact) in outputs.iter().zip(kernel.output_facts(&facts)?) {
                    s.equals(&output.datum_type, fact.datum_type)?;
                    s.equals(&output.shape, fact.shape.to_tvec())?;
                }
                Ok(())
            })
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

impl Op for KernelOp {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    op_as_typed_op!();
}

impl EvalOp for KernelOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.0.eval(inputs)
    }
}

impl TypedOp for KernelOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.0.output_facts(inputs)
    }

    as_op!();
}
