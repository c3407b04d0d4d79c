"""Real aiohttp servers on 127.0.0.1 speaking each upstream's wire format, for tests.

Each fake runs in its own thread and event loop, so sync tests, async tests and
gwd in a separate process can all use it::

    from tests.fakes import OpenAIFake, Fault
    with OpenAIFake("east") as fake:          # fake.base_url -> http://127.0.0.1:<port>
        fake.enqueue(Fault(status=503))       # the next request fails, the one after works
"""

from .anthropic_fake import AnthropicFake
from .base import FakeUpstream, Fault, JsonReply, RecordedRequest, StreamReply
from .bedrock_fake import BedrockFake
from .cohere_fake import CohereFake
from .compatible_fake import MistralFake
from .gemini_fake import GeminiFake
from .ollama_fake import OllamaFake
from .openai_fake import AzureFake, OpenAIFake
from .tgi_fake import TGIFake
from .vertex_fake import VertexFake

__all__ = ["AnthropicFake", "AzureFake", "BedrockFake", "CohereFake", "FakeUpstream", "Fault",
           "GeminiFake", "JsonReply", "MistralFake", "OllamaFake", "OpenAIFake",
           "RecordedRequest", "StreamReply", "TGIFake", "VertexFake"]
