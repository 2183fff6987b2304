//! Which node an operator was built from, the errors that name it, and the reader of its
//! attributes: every refusal says the operator, the node, the attribute and what would
//! be accepted.

use std::fmt::Display;

use tract_onnx::pb::{attribute_proto::AttributeType, AttributeProto, NodeProto};

use crate::tensor_proto::{self, Values};

/// Why an ml node cannot be built or run.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    /// An attribute the operator cannot use.
    #[error("{op} `{node}`: attribute {attribute} {problem}")]
    Attribute {
        /// The ONNX operator.
        op: &'static str,
        /// The node's name (or its first output's).
        node: String,
        /// The attribute.
        attribute: String,
        /// What is wrong and what would be accepted.
        problem: String,
    },
    /// Inputs the operator cannot take, at load or when run.
    #[error("{op} `{node}`: {problem}")]
    Node {
        /// The ONNX operator.
        op: &'static str,
        /// The node's name (or its first output's).
        node: String,
        /// What is wrong and what would be accepted.
        problem: String,
    },
}

/// The operator and name of a node, for its errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId {
    op: &'static str,
    name: String,
}

impl NodeId {
    /// `node`, an `op` node, named as tract names it: its name, else its first output.
    pub fn of(op: &'static str, node: &NodeProto) -> NodeId {
        let name = match (&node.name[..], node.output.first()) {
            ("", Some(output)) => output.clone(),
            (name, _) => name.to_string(),
        };
        NodeId { op, name }
    }

    /// The ONNX operator.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// An error about the node's `attribute`.
    pub fn attribute(&self, attribute: &str, problem: impl Display) -> MlError {
        MlError::Attribute {
            op: self.op,
            node: self.name.clone(),
            attribute: attribute.to_string(),
            problem: problem.to_string(),
        }
    }

    /// An error about the node's inputs.
    pub fn error(&self, problem: impl Display) -> MlError {
        MlError::Node {
            op: self.op,
            node: self.name.clone(),
            problem: problem.to_string(),
        }
    }
}

/// The attributes of one node, read by name with errors that name the node. An absent
/// attribute is `None`; one of another declared type is refused.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    node: &'a NodeProto,
    id: NodeId,
}

impl<'a> Attributes<'a> {
    /// The attributes of `node`, an `op` node.
    pub fn of(op: &'static str, node: &'a NodeProto) -> Attributes<'a> {
        Attributes {
            node,
            id: NodeId::of(op, node),
        }
    }

    /// The node, for errors.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    /// Whether the node has attribute `name`.
    pub fn has(&self, name: &str) -> bool {
        self.node.attribute.iter().any(|a| a.name == name)
    }

    /// Attribute `name` if present, refusing one declared with another type than
    /// `expected` (files that leave the type unset are read by the field).
    fn get(
        &self,
        name: &str,
        expected: AttributeType,
    ) -> Result<Option<&'a AttributeProto>, MlError> {
        let Some(attribute) = self.node.attribute.iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        let declared = attribute.r#type;
        if declared != AttributeType::Undefined as i32 && declared != expected as i32 {
            let found =
                AttributeType::try_from(declared).map_or("an unknown type", |t| t.as_str_name());
            return Err(self.id.attribute(
                name,
                format!("is declared {found}; it must be {}", expected.as_str_name()),
            ));
        }
        Ok(Some(attribute))
    }

    /// A list of floats.
    pub fn floats(&self, name: &str) -> Result<Option<&'a [f32]>, MlError> {
        Ok(self
            .get(name, AttributeType::Floats)?
            .map(|a| &a.floats[..]))
    }

    /// A list of integers.
    pub fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, MlError> {
        Ok(self.get(name, AttributeType::Ints)?.map(|a| &a.ints[..]))
    }

    /// A list of strings, each valid UTF-8.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, MlError> {
        let Some(attribute) = self.get(name, AttributeType::Strings)? else {
            return Ok(None);
        };
        (attribute.strings.iter())
            .map(|s| self.utf8(name, s))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A float.
    pub fn float(&self, name: &str) -> Result<Option<f32>, MlError> {
        Ok(self.get(name, AttributeType::Float)?.map(|a| a.f))
    }

    /// An integer.
    pub fn int(&self, name: &str) -> Result<Option<i64>, MlError> {
        Ok(self.get(name, AttributeType::Int)?.map(|a| a.i))
    }

    /// A string, valid UTF-8.
    pub fn string(&self, name: &str) -> Result<Option<String>, MlError> {
        match self.get(name, AttributeType::String)? {
            Some(attribute) => self.utf8(name, &attribute.s).map(Some),
            None => Ok(None),
        }
    }

    /// The values of a tensor attribute (see [`tensor_proto::values`]).
    pub fn tensor(&self, name: &str) -> Result<Option<Values>, MlError> {
        let Some(attribute) = self.get(name, AttributeType::Tensor)? else {
            return Ok(None);
        };
        let Some(tensor) = attribute.t.as_ref() else {
            return Err(self.id.attribute(name, "holds no tensor"));
        };
        tensor_proto::values(tensor)
            .map(Some)
            .map_err(|problem| self.id.attribute(name, problem))
    }

    fn utf8(&self, name: &str, bytes: &[u8]) -> Result<String, MlError> {
        String::from_utf8(bytes.to_vec())
            .map_err(|_| self.id.attribute(name, "holds a string that is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(attribute: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            name: "n".into(),
            attribute,
            ..Default::default()
        }
    }

    #[test]
    fn an_unnamed_node_is_named_by_its_first_output() {
        let unnamed = NodeProto {
            output: vec!["scaled".into()],
            ..Default::default()
        };
        let err = NodeId::of("Scaler", &unnamed).error("broken");
        assert_eq!(err.to_string(), "Scaler `scaled`: broken");
    }

    #[test]
    fn an_attribute_declared_with_another_type_is_refused_naming_both() {
        let threshold = AttributeProto {
            name: "threshold".into(),
            r#type: AttributeType::Ints as i32,
            ints: vec![1],
            ..Default::default()
        };
        let node = node(vec![threshold]);
        let err = Attributes::of("Binarizer", &node)
            .float("threshold")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Binarizer `n`: attribute threshold is declared INTS; it must be FLOAT"
        );
    }

    #[test]
    fn strings_that_are_not_utf8_are_refused() {
        let cats = AttributeProto {
            name: "cats_strings".into(),
            strings: vec![vec![0xff, 0xfe]],
            ..Default::default()
        };
        let node = node(vec![cats]);
        let err = Attributes::of("OneHotEncoder", &node)
            .strings("cats_strings")
            .unwrap_err();
        assert!(err.to_string().ends_with("is not UTF-8"), "{err}");
    }
}
