"""Neuronpedia support: feature page links, and exports Neuronpedia's tools import.

* :func:`neuronpedia_id` / :func:`feature_url` — an SAE's Neuronpedia id (sae-lens metadata) and a
  feature's page URL (the dashboard links to it);
* :func:`export_neuronpedia` — feature dashboards as SAEDashboard NeuronpediaRunner batch files;
* :func:`export_neuronpedia_vectors` — steering vectors in Neuronpedia's vector format.

The optional ``neuronpedia`` package, when installed, validates what is written (nothing is uploaded).
"""

from tl_reasoning.neuronpedia.export import NOT_FILLED, export_neuronpedia
from tl_reasoning.neuronpedia.ids import feature_url, neuronpedia_id
from tl_reasoning.neuronpedia.output import NeuronpediaExport
from tl_reasoning.neuronpedia.vectors import export_neuronpedia_vectors

__all__ = ["NOT_FILLED", "NeuronpediaExport", "export_neuronpedia", "export_neuronpedia_vectors", "feature_url",
           "neuronpedia_id"]
