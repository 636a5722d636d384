from django.conf import settings
from django.core.management.base import BaseCommand

from common import dead_letters, tracing
from common.events import TOPICS


class Command(BaseCommand):
    help = "Dead letters: `dlt list TOPIC` shows them with their reasons; `dlt replay TOPIC` re-sends new ones."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "replay"])
        parser.add_argument("topic", choices=list(TOPICS), help="the source topic (its dead letters are TOPIC.DLT)")

    def handle(self, *args, action, topic, **options):
        if action == "list":
            letters = dead_letters.dead_letters(topic)
            for letter in letters:
                value = (letter.value or b"").decode(errors="replace")
                self.stdout.write(
                    f"{topic}.DLT[{letter.partition}]@{letter.offset} key={letter.key} from {letter.source}"
                    f" group={letter.headers.get('dlt.group')} at {letter.headers.get('dlt.failed_at')}\n"
                    f"  reason: {letter.headers.get('dlt.reason')}\n  value:  {value[:300]}"
                )
            self.stdout.write(f"{len(letters)} dead letter(s) on {topic}.DLT")
        else:
            tracing.setup(settings.SERVICE)  # a replayed event goes on in its order's trace, and the replay is in it
            replayed = dead_letters.replay(topic)
            self.stdout.write(f"replayed {len(replayed)} dead letter(s) to {topic}")
