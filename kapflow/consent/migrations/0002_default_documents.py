"""Version 1 of each consent document, written for kapflow from docs/design.md, docs/clinical.md
and the seed documents (docs/sources.md). They are starting points: the practice admin reads
them, changes what their practice does differently, and publishes new versions (kapflow/consent,
/consent-documents/). Nothing in them is medical advice. The texts live here, not imported, so
this migration never changes."""

from django.db import migrations
from django.utils import timezone

KAP = """This page explains ketamine-assisted psychotherapy (KAP) as our practice offers it: what it involves, what it may and may not do, its risks, the other choices you have, and your rights. Please read it with us and ask anything. You do not have to decide today, and agreeing now does not oblige you to go on.

## What KAP is
KAP combines a prescribed medicine, ketamine, with psychotherapy: preparation before each medication session, support during it, and integration afterwards. The medicine can create a temporary opening in which familiar patterns may feel less rigid and difficult emotions more approachable. The therapy is how that opening is put to use. The medicine is one part of the work, not the whole of it.

## Ketamine, and "off-label" use
Ketamine has been used in medicine for decades as an anesthetic, and that is what the FDA has approved it for. Using it for depression, anxiety, trauma or other mental health concerns is "off-label": a licensed prescriber may prescribe it this way, but the FDA has not reviewed or approved it for these uses. A related medicine, esketamine (Spravato), is approved for certain kinds of depression in adults; it is given under a separate program and is not the same treatment as KAP.
Ketamine is a controlled substance (Schedule III). It is prescribed for you alone, only after a medical evaluation, and is used only as prescribed.

## What the process involves
- A consultation with your therapist about what brings you to KAP, your history, earlier treatment, your supports and what you hope for.
- Screening and a medical evaluation by a prescriber (a physician or nurse practitioner), who decides whether ketamine is medically appropriate for you. Your therapist never makes prescribing decisions.
- One or more preparation sessions: what the medicine may feel like, your concerns and intentions, practical instructions, and what we will do if something difficult comes up.
- Medication sessions, usually a series (often 6 to 12), with integration sessions between them.
- Questionnaires about your mood along the way, so that we can see together whether KAP is helping.

## What a medication session is like
A session lasts about 2 to 2.5 hours. We begin with 15 to 30 minutes of reflection on your intentions. You then take the dose your prescriber ordered, in the way they ordered it (for example a lozenge held in the mouth, a nasal spray, or an injection into a muscle). The effects of the medicine last about 45 minutes; many people rest with eye shades and music. Your therapist stays with you the whole time. About 45 minutes of talking through the experience follow.
We check your blood pressure and heart rate before the dose, about 40 minutes after it, and before you leave. You go home only when the effects have worn off, you are steady on your feet, and someone is there to take you home.

## What it may feel like
Every person and every session is different. People describe changes in their sense of time, body and surroundings; vivid images; memories or emotions; distance from their usual thoughts; calm; or very little. Some sessions are uncomfortable, sad or frightening for a while. A session does not have to be dramatic to be useful, and nothing you experience has to be taken as literally true.

## Possible benefits
KAP helps some people feel relief, see things differently or reach emotions that were hard to reach. It does not help everyone. Benefits may be partial or may fade, and they often depend on preparation, integration and continued therapy. We cannot promise any result.

## Risks and side effects
During and shortly after a session you may have:
- dizziness
- nausea or vomiting
- sleepiness (sedation)
- feeling detached from your body or surroundings (dissociation)
- temporary confusion
- anxiety or emotional discomfort
- changes in coordination
- dry mouth
- a temporary rise in blood pressure or heart rate
- changes in perception or physical sensation
These usually pass within an hour or two. Less often, blood pressure rises more than expected, which is why we measure it; the prescriber may delay or stop a session for safety. Ketamine can be misused, and frequent high-dose use over long periods has been linked to bladder problems and memory difficulties; please tell us about any urinary symptoms or cravings. Difficult memories or feelings may come up during or after sessions; we will work with them together. The effects of ketamine on a pregnancy are not known well enough for it to be used during pregnancy.
Please tell your prescriber about every medicine, supplement and substance you take, and about any change in your health, before each session.

## Before and after each session
- Follow your prescriber's instructions about eating and drinking before the session.
- Do not use alcohol, cannabis, sedatives, sleeping pills, opioids, stimulants or other drugs in the 24 hours before a session unless your prescriber has said otherwise.
- Arrange for an adult to take you home. Do not drive, ride a bike, operate machinery, or make important decisions until the next day, after a restful night's sleep.
- Keep the rest of the day free if you can, and plan some quiet time for reflection in the day or two that follow.

## Other choices you have
KAP is one option among several. Others include continuing therapy without ketamine; medicines such as antidepressants; other treatments your prescriber can explain, such as transcranial magnetic stimulation (TMS), electroconvulsive therapy (ECT), or esketamine (Spravato) for adults who qualify; and choosing no new treatment for now. We are glad to talk these through with you.

## Your rights
- You may ask questions at any time, and get answers you understand.
- You may stop at any time: before a session, during the course, or by asking us to end a session early. Once a dose has been taken its effects cannot be reversed, but we will stay with you and keep you safe until they pass.
- You may withdraw this consent at any time by telling us. Withdrawing does not affect the rest of your care with us.
- Your information is kept private as the law requires. If we believe you or someone else is at serious risk of harm, we may contact emergency services or your emergency contact.

## What you are agreeing to
By agreeing, you say that you have read this page or had it read to you, that your questions have been answered, and that you choose to take part in ketamine-assisted psychotherapy with our practice, knowing that you may stop at any time."""

TELEHEALTH = """Some of our sessions can happen by secure video instead of in the office ("telehealth"). This page explains what that involves, including virtual medication sessions, and what we need from you to keep them safe.

## What telehealth involves
Consultations, preparation, integration and therapy sessions may be held by video. A medication session may also be virtual when your prescriber and therapist agree that it is appropriate for you. You can ask to meet in person instead at any time.

## What we need for every video session
- A private place where you will not be overheard, and a device with a camera, a microphone and a reliable connection.
- The address where you are during the session, each time. We may only be able to see you when you are in a state where your clinicians are licensed to practice.
- A phone number we can call if the video drops. If it does, we will call you; if we cannot reach you, we will follow the plan we agreed.
We use a secure video service. We do not record sessions, and we ask that you do not record them either, unless we both agree first.

## Extra rules for a virtual medication session
- An adult (18 or over) you trust stays in the same home with you for the whole session, with a phone, and checks in with you about every 15 minutes. They take part in a brief check with us before the session starts.
- You have a blood pressure cuff, and take your readings when we ask.
- We have on record your emergency contact and the nearest emergency department to where you are.
- You do not drive, and do not go out alone, until the next day after a restful night's sleep.
- You follow the same day-of instructions as for an in-person session.
If any of these is missing on the day, the session will not go ahead as a virtual session.

## Risks and limits
Video can fail, and we cannot be in the room with you. If you become unwell or unsafe, we may not be able to help in person: we will call your chaperone, your emergency contact, or emergency services (911) to your address. Information sent over the internet carries some risk of being seen by others despite security measures. Some people find it harder to settle into a session at home; we will decide with you whether virtual sessions suit you.

## Your rights
You can refuse telehealth or withdraw this consent at any time, and choose in-person sessions instead where we can offer them. Withdrawing does not affect the rest of your care.

## What you are agreeing to
By agreeing, you say that you understand how telehealth works with us, including the rules for virtual medication sessions, and that you choose to receive some of your care this way."""

GUARDIAN = """This page is for a parent or legal guardian of a young person under 18 who is considering ketamine-assisted psychotherapy (KAP) with our practice. Please read it carefully, ask us anything, and take the time you need. Your young person will also be asked, in words written for them, whether they agree. Both of you need to say yes.

## What KAP is
KAP combines a prescribed medicine, ketamine, with psychotherapy: preparation before each medication session, support during it, and integration afterwards. The medicine may make familiar patterns of thought and feeling less rigid for a while; the therapy is how that is put to use.

## Off-label use, and what is known for young people
Ketamine is approved by the FDA as an anesthetic. Using it for mental health concerns is "off-label": a licensed prescriber may prescribe it this way, but it has not been reviewed or approved for that use, in adults or in young people. Esketamine (Spravato), a related medicine approved for some adults with depression, is not approved for anyone under 18.
The research on ketamine for adolescents is much more limited than for adults: a small number of studies, with few participants and short follow-up. We do not know as much about its benefits, its risks, or its long-term effects on a developing brain. We consider KAP for a young person only in particular circumstances: when their difficulties are serious, other treatments have not been enough, and their prescriber and therapist believe the possible benefits justify the risks and demands of treatment.

## What the process involves
- A consultation with you and your young person.
- Screening and a medical evaluation by a prescriber (a physician or nurse practitioner), who decides whether ketamine is medically appropriate. The therapist never makes prescribing decisions.
- Preparation sessions, usually a series of medication sessions with integration sessions between them, and continued therapy.
- Working with your young person's other doctors and therapists, with your permission.
A medication session lasts about 2 to 2.5 hours: 15 to 30 minutes of reflection, the dose the prescriber ordered (for example a lozenge, a nasal spray or an injection), about 45 minutes of medicine effects with the therapist present throughout, and about 45 minutes of talking it through. We check blood pressure and heart rate before and after the dose and before they leave.

## Risks and side effects
During and shortly after a session your young person may have dizziness, nausea or vomiting, sleepiness, a feeling of being detached from their body or surroundings, temporary confusion, anxiety or emotional discomfort, changes in coordination, dry mouth, a temporary rise in blood pressure or heart rate, and changes in perception or physical sensation. These usually pass within an hour or two. Ketamine can be misused, and frequent high-dose use over long periods has been linked to bladder and memory problems. Difficult memories or feelings may come up; we will work with them together. Benefits, if any, may be partial or temporary; we cannot promise any result.

## Other choices
Alternatives include continuing therapy without ketamine, medicines approved for young people, other treatments the prescriber can explain, and waiting. We are glad to talk these through.

## What we ask of you
- Bring your young person to each medication session and take them home afterwards. They must not drive, ride a bike, or go out alone until the next day, after a restful night's sleep.
- Stay with them, or make sure a responsible adult does, for the rest of that day.
- Help them follow the prescriber's instructions about food, drink, medicines and other substances before a session.
- Tell us about any change in their health, medicines, mood or safety, and contact us or emergency services (911, or 988 for a mental health crisis) if you are worried about their safety.

## Privacy
Therapy works best when a young person can speak freely. You will see your young person's appointments and consents, and we will keep you informed about how treatment is going in general terms. What they say in sessions, their notes and any journal stay private between them and their therapist, except where the law requires otherwise or where we believe they or someone else is at serious risk of harm; then we will tell you.

## Your rights and theirs
- You may ask questions at any time and withdraw this consent at any time by telling us.
- If your young person does not agree, or changes their mind, treatment does not go ahead, even with your consent.
- Either of you may ask to end a session early. Once a dose has been taken its effects cannot be reversed, but we will stay with them and keep them safe until they pass.
- Withdrawing does not affect the rest of their care with us.

## What you are agreeing to
By agreeing, you confirm that you are the young person's parent or legal guardian with the authority to consent to their treatment, that you have read this page or had it read to you, that your questions have been answered, and that you agree to your young person taking part in ketamine-assisted psychotherapy with our practice, provided they agree too."""

ASSENT = """This page is for you, the young person. Your parent or guardian has been asked for their consent, but that is not enough: we also want to know what you think. Nobody should pressure you. Please ask us about anything here that is unclear.

## What is this treatment?
It is called ketamine-assisted psychotherapy, or KAP. It mixes two things: a medicine called ketamine, and talking with your therapist before, during and after you take it. The medicine can make your mind feel different for a while, and that can make it easier to look at thoughts and feelings that have felt stuck.

## Some honest facts
- Ketamine is approved as an anesthetic, which is medicine used during surgery. Doctors can also prescribe it for mental health, but it is not officially approved for that. This is called "off-label".
- A similar medicine (esketamine, called Spravato) is approved for some adults with depression. It is not approved for anyone under 18.
- Not many studies have looked at ketamine for teenagers, so we know less about how well it works, and about its risks, for people your age than for adults.
- It helps some people and not others. We cannot promise it will help you.

## What would happen?
First you meet your therapist to talk and prepare, and a doctor or nurse practitioner checks your health. On a medicine day, you come with your parent or guardian. The visit takes about 2 to 2.5 hours. You take the medicine the way the doctor ordered it, maybe as something that melts in your mouth, a nose spray, or a shot. For about 45 minutes the medicine works; many people lie back with music and eye shades. Your therapist stays with you the whole time. Then you talk about what it was like. We check your blood pressure and heart rate too. You usually have several of these visits, with talking sessions in between.

## How might it feel?
Everyone is different. You might feel floaty or far away from your body, see pictures in your mind, remember things, feel calm, or feel emotions strongly. Some of it can feel strange or scary for a while. It wears off, and your therapist is right there with you.

## What could go wrong?
You might feel dizzy, sick to your stomach or throw up, very sleepy, confused for a little while, anxious or upset, clumsy, or have a dry mouth. Your heart might beat faster and your blood pressure go up for a while. These things usually pass within an hour or two. Ketamine can also be misused, so it is only ever taken here, the way the doctor ordered.

## What you need to do
- Follow the instructions about eating, drinking and other substances before a visit.
- Go home with your parent or guardian afterwards. No driving, biking, or going out alone until the next day, after a good night's sleep.
- Tell us if something changes: your health, your medicines, or how you are feeling.

## Who will know what you say?
What you tell your therapist stays private. Your parent or guardian sees your appointments and whether you agreed, and hears in general how things are going. If we are worried that you or someone else could be seriously hurt, we have to tell people who can help keep you safe, and we will tell you first if we can.

## It is your choice
- You can say no. If you say no, this treatment will not happen, even if your parent or guardian said yes.
- You can change your mind later, at any time, even on a medicine day. Nobody will be angry with you.
- Once you have taken the medicine it cannot be undone, but your therapist will stay with you until it wears off.
- Saying no to KAP does not stop you getting other help from us.

## What agreeing means
If you agree, you are saying: I have read this (or someone read it to me), my questions were answered, and I want to try KAP. I know I can stop at any time."""

RELEASE = """This form lets our practice share information about you with one outside provider, named on this page when you sign, so that the people who care for you can work together. You decide whether to sign it, and you can withdraw it.

## Who is sharing, and with whom
Our practice (your therapist, your prescriber, and the staff who support them) may share information with the provider named above, and may receive information from them about your care.

## What may be shared
- That you are receiving ketamine-assisted psychotherapy with us, and the dates you attended.
- Your prescriber's medical evaluation and clearance, and the medicines and doses prescribed.
- Your questionnaire scores (for example for mood and anxiety) and summaries of your progress.
- Side effects or safety concerns that the other provider needs to know about.
- A summary when your course of treatment ends.
We do not share psychotherapy notes, or your journal, under this release.

## Why
To coordinate your care: for example so that your regular therapist can continue the work after a session, or your doctor knows about a medicine that could interact with others.

## How long it lasts
Until the end date written when you sign, if there is one; otherwise until you withdraw it or your care with us ends.

## How to withdraw it
Tell any member of our team, in person, by phone or in writing, that you withdraw this release. We will record it and stop sharing from then on. Withdrawing cannot undo what was already shared while the release was in place.

## Please know
- Signing is your choice. Your treatment with us does not depend on it.
- Once information has been shared, the provider who receives it keeps it under their own privacy rules. If they are not bound by health privacy law, it may no longer be protected in the same way.
- You may ask for a copy of this form and see what we have shared.

## What you are agreeing to
By agreeing, you allow our practice to share the information described above with the provider named on this page, for the purpose and the time described."""

TEXTS = [
    ("kap", "Informed consent for ketamine-assisted psychotherapy (KAP)", KAP),
    ("telehealth", "Consent to telehealth, including virtual medication sessions", TELEHEALTH),
    ("guardian", "Consent of a parent or legal guardian for ketamine-assisted psychotherapy", GUARDIAN),
    ("assent", "Your own agreement (assent) to ketamine-assisted psychotherapy", ASSENT),
    ("release", "Authorization to share information with another provider", RELEASE),
]


def create(apps, schema_editor):
    ConsentDocument = apps.get_model("consent", "ConsentDocument")
    now = timezone.now()
    for kind, title, body in TEXTS:
        if not ConsentDocument.objects.filter(kind=kind).exists():
            ConsentDocument.objects.create(kind=kind, version=1, title=title, body=body, published_at=now)


def remove(apps, schema_editor):
    ConsentDocument = apps.get_model("consent", "ConsentDocument")
    ConsentDocument.objects.filter(version=1, signatures__isnull=True, created_by__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
