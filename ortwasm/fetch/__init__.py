"""Before any build: fill ``$ORTWASM_HOME/sources`` with an ORT version's tree and its pinned dependencies."""
